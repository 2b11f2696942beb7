// Reads a whole topic once, from the beginning to its end as of the call, outside any
// consumer group (no offsets committed). For the compacted state topic (a worker learning
// what each target runs; `gitopsctl status`) and for inspecting the results and DLQ topics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd {

struct TopicRecord {
  std::string key;
  std::optional<std::string> value;  // nullopt for a tombstone
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = 0;
};

// Every record of every partition up to the high watermarks read at the start, in offset
// order per partition. A topic that does not exist yet reads as empty. Returns an error
// message when the cluster cannot be reached or the read does not finish within `timeout`.
std::variant<std::vector<TopicRecord>, std::string> read_topic_to_end(const KafkaConfig& kafka,
                                                                      const std::string& topic,
                                                                      Duration timeout);

}  // namespace gitopsd
