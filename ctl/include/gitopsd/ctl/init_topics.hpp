// `gitopsctl init-topics`: creates the five topics of kafka.topics with the settings gitopsd
// relies on (state and statuses compacted; retention for events, results and the DLQ) through
// the Kafka admin API. Idempotent: topics that exist are checked, not changed.
#pragma once

#include <chrono>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd::ctl {

struct InitTopicsOptions {
  int partitions = 0;   // per topic, >= 1
  int replication = 0;  // replication factor, >= 1
  bool json = false;
  Duration timeout = std::chrono::seconds(30);  // the whole command
};

struct TopicSpec {
  std::string role;  // events | results | state | dlq | statuses
  std::string name;
  std::map<std::string, std::string> config;  // topic-level settings
};

// The five topics and their settings for a replication factor (min.insync.replicas depends
// on it). Pure; what init-topics creates.
std::vector<TopicSpec> topic_specs(const KafkaTopics& topics, int replication);

// Exit code: 0 when every topic exists (created now or before) with settings that work;
// 1 when one could not be created, the cluster did not answer within the timeout, or an
// existing topic differs in a way that matters (said on `err`).
int run_init_topics(const Config& config, const InitTopicsOptions& options, std::ostream& out,
                    std::ostream& err);

}  // namespace gitopsd::ctl
