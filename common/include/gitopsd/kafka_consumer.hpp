// A Kafka consumer whose messages are owned copies: a group member (subscribe, with rebalance
// hooks; cooperative-sticky's incremental assign and unassign are done here) or a reader
// outside any group (assign). Built from a KafkaSettings list: consumer_settings() for a group
// member, reader_settings() for a reader. librdkafka types stay in the .cpp.
// Not thread-safe: one thread polls and makes the other calls; the hooks run on it, in poll().
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gitopsd/config.hpp"
#include "gitopsd/kafka_settings.hpp"

namespace gitopsd {

struct KafkaPartition {
  std::string topic;
  std::int32_t partition = 0;
  friend auto operator<=>(const KafkaPartition&, const KafkaPartition&) = default;
};

struct KafkaMessage {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;                   // empty when the record has none
  std::optional<std::string> value;  // nullopt for a tombstone
  std::int64_t timestamp_ms = 0;
};

class KafkaConsumer {
 public:
  using Partitions = std::vector<KafkaPartition>;
  using PartitionsHook = std::function<void(const Partitions&)>;

  // Run inside poll() (and close()), on the polling thread, which may call the consumer from
  // them (store, commit, seek, resume).
  struct RebalanceHooks {
    PartitionsHook assigned;  // after the partitions are added; also with none (a member then)
    // Before the partitions are taken away: the last moment to store and commit their offsets.
    PartitionsHook revoked;
    // Taken away without a revocation (session timed out, fenced): another member may own them
    // already, and storing their offsets fails. Unset: `revoked` runs instead.
    PartitionsHook lost;
  };

  // Throws std::runtime_error when librdkafka refuses the settings.
  explicit KafkaConsumer(const KafkaSettings& settings, RebalanceHooks hooks = {});
  // close(), then destroys the handle.
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  // Joins the group for `topics`. Throws std::runtime_error.
  void subscribe(const std::vector<std::string>& topics);
  // Outside a group: reads each partition from its offset (no hooks run). Throws.
  void assign(const std::vector<std::pair<KafkaPartition, std::int64_t>>& from);

  // The next message within `timeout`; nullopt when none came: timed out, a partition's end
  // (enable.partition.eof), or a consumer error (logged as a warning to "kafka"). Throws
  // std::runtime_error on a fatal error, after which this consumer can never consume again.
  std::optional<KafkaMessage> poll(Duration timeout);

  // Paused partitions deliver nothing (their prefetched messages are dropped and fetched again
  // on resume) while poll() keeps the membership alive.
  void pause(const Partitions& partitions);
  void resume(const Partitions& partitions);

  // For enable.auto.offset.store=false: `next` (the last message's offset + 1) is what the
  // next commit writes for `partition`. librdkafka's error, e.g. for a partition no longer
  // assigned, or nullopt.
  std::optional<std::string> store_offset(const KafkaPartition& partition, std::int64_t next);
  // Commits the stored offsets: now, waiting for the broker (librdkafka's error or nullopt);
  // or in the background.
  std::optional<std::string> commit();
  void commit_async();
  // The partition's next message is the one at `offset`. librdkafka's error or nullopt.
  std::optional<std::string> seek(const KafkaPartition& partition, std::int64_t offset,
                                  Duration timeout);

  // The topic's partition ids (none when the topic does not exist), or why the cluster gave no
  // answer.
  std::variant<std::vector<std::int32_t>, std::string> partitions_of(const std::string& topic,
                                                                    Duration timeout);
  // {low, high} watermarks asked of the partition's leader, or its error.
  std::variant<std::pair<std::int64_t, std::int64_t>, std::string> query_watermarks(
      const KafkaPartition& partition, Duration timeout);
  // Per partition of `partitions`, the first offset of a record stamped at or after
  // `since_ms` (Unix ms), -1 where there is none; or the broker's error.
  std::variant<std::vector<std::int64_t>, std::string> offsets_for_time(
      const Partitions& partitions, std::int64_t since_ms, Duration timeout);
  // Messages between this consumer's position and the high watermark last fetched (no request
  // is made); nullopt while either is unknown.
  std::optional<std::int64_t> lag(const KafkaPartition& partition);

  // Gives up the assignment (its revoked hook runs; with enable.auto.commit the stored offsets
  // are committed) and leaves the group, except as a static member (group.instance.id), whose
  // partitions wait for it to come back within the session timeout. Further calls do nothing.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd
