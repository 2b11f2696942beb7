// Reads a whole topic once, from the beginning to its end as of the call, outside any
// consumer group (no offsets committed). For the compacted state topic (a worker learning
// what each target runs; `gitopsctl status`) and for inspecting the results and DLQ topics.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gitopsd/config.hpp"
#include "gitopsd/kafka_consumer.hpp"

namespace gitopsd {

using TopicRecord = KafkaMessage;

// Every record of every partition up to the high watermarks read at the start, in offset
// order per partition; with `since_ms` (Unix ms), only from each partition's first record
// stamped at or after it (the broker's offsets-for-times index). A topic that does not exist
// yet reads as empty. Returns an error message when the cluster cannot be reached or the read
// does not finish within `timeout`.
std::variant<std::vector<TopicRecord>, std::string> read_topic_to_end(
    const KafkaConfig& kafka, const std::string& topic, Duration timeout,
    std::optional<std::int64_t> since_ms = std::nullopt);

// As read_topic_to_end, but a topic that does not exist is nullopt rather than empty: for a
// topic an older cluster may lack (the statuses topic before init-topics was rerun).
std::variant<std::optional<std::vector<TopicRecord>>, std::string> read_topic_if_exists(
    const KafkaConfig& kafka, const std::string& topic, Duration timeout,
    std::optional<std::int64_t> since_ms = std::nullopt);

// Follows a topic outside any consumer group (`gitopsctl events --follow`): every partition
// that exists when it opens, from `since_ms` or, without it, from the end. Not thread-safe.
class TopicFollower {
 public:
  // Error message when the cluster cannot be reached within `timeout`.
  static std::variant<std::unique_ptr<TopicFollower>, std::string> open(
      const KafkaConfig& kafka, const std::string& topic, std::optional<std::int64_t> since_ms,
      Duration timeout);
  ~TopicFollower();
  TopicFollower(const TopicFollower&) = delete;
  TopicFollower& operator=(const TopicFollower&) = delete;

  // The records that arrive within `wait` (returns early once some have and none follow).
  std::vector<TopicRecord> poll(Duration wait);

 private:
  struct Impl;
  explicit TopicFollower(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd
