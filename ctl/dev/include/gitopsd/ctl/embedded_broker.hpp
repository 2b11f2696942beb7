// The Kafka broker `gitopsctl dev` runs inside its own process: librdkafka's mock cluster
// (rdkafka_mock.h, an experimental librdkafka API). It keeps everything in memory, serves
// any client over TCP on 127.0.0.1, supports idempotent producers and consumer groups with
// committed offsets, but has no admin API: topics are created here, without configs (so the
// state topic is not compacted). For trying gitopsd on a laptop, never for production.
#pragma once

#include <memory>
#include <string>

#include "gitopsd/config.hpp"

namespace gitopsd::ctl {

class EmbeddedBroker {
 public:
  // Starts a one-broker cluster on an ephemeral loopback port and creates `topics` (events
  // with kEventsPartitions partitions, the others with one). Throws std::runtime_error when
  // librdkafka cannot start it. Thread-safe once constructed; its threads are librdkafka's.
  explicit EmbeddedBroker(const KafkaTopics& topics);
  // Stops the broker; clients still connected see it go down.
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT": the bootstrap list for clients of this broker.
  const std::string& bootstrap() const { return bootstrap_; }

  // As many as the mock cluster gives an auto-created topic, so that several repositories are
  // applied in parallel as they would be on a real cluster.
  static constexpr int kEventsPartitions = 4;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
};

}  // namespace gitopsd::ctl
