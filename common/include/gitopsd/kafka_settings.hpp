// The librdkafka settings gitopsd's Kafka clients run with, in one place: every client (the
// producers, the worker's consumer, the topic reader, gitopsctl's admin client) is built from
// one of these lists, and the config loader tries the daemons' lists at load, so librdkafka
// never refuses a value first when a daemon starts (exit 1 and a restart loop under systemd)
// instead of at `--check-config`. Each list is the cluster connection every client shares
// (kafka.brokers, a client id, kafka.properties: TLS, SASL, timeouts…) plus its role's keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd {

// librdkafka property name and value, applied in order: a later entry wins.
using KafkaSettings = std::vector<std::pair<std::string, std::string>>;

// How long the worker's producer waits for the acknowledgement of a result or state record
// (its message.timeout.ms; the receiver's is receiver.publish_timeout).
inline constexpr Duration kWorkerDeliveryTimeout = std::chrono::seconds(30);

// The connection every client shares: bootstrap.servers and client.id, the role's `defaults`,
// then kafka.properties (which may change those defaults), then the role's `fixed` keys (which
// no property may change).
KafkaSettings client_settings(const KafkaConfig& kafka, const std::string& client_id,
                              const KafkaSettings& defaults, const KafkaSettings& fixed);

// gitopsd's defaults, then kafka.properties, then what no property may change (what "never
// loses an acknowledged event" rests on: idempotence, acks=all, the delivery timeout; and the
// partitioner that partition_of() computes).
KafkaSettings producer_settings(const KafkaConfig& kafka, const std::string& client_id,
                                Duration delivery_timeout);
// The worker's group consumer: it stores its own offsets once outcomes are published. Its
// defaults (kafka.properties may change them): session.timeout.ms 10000 and
// heartbeat.interval.ms 1000, so a crashed worker's partitions move within about 12 s.
// With `group_instance_id` it is a static member (KIP-345) under that id, which no property
// may change: restarted within the session timeout it gets its partitions back without a
// rebalance, and closing it does not leave the group.
KafkaSettings consumer_settings(const KafkaConfig& kafka, const std::string& group_id,
                                const std::optional<std::string>& group_instance_id = std::nullopt,
                                const std::string& client_id = "gitopsd-worker");
// A consumer outside any group that reads whole topics (topic_reader.hpp): commits nothing.
KafkaSettings reader_settings(const KafkaConfig& kafka);
// gitopsctl's admin client (init-topics).
KafkaSettings admin_settings(const KafkaConfig& kafka);

// The partition, of `partitions`, that producer_settings()'s partitioner puts records keyed
// `key` in: a repository's events all go there (the worker's resync publishes only for the
// repositories of its own partitions). Kept beside the setting so the two cannot disagree.
std::int32_t partition_of(const std::string& key, std::int32_t partitions);

// Whether librdkafka takes one property on its own: nullopt if it does, else why not
// (`unknown` tells a property it does not know from a value it refuses).
struct KafkaPropertyError {
  bool unknown = false;
  std::string message;  // librdkafka's, with the value hidden (it may be a secret)
};
std::optional<KafkaPropertyError> check_kafka_property(const std::string& name,
                                                       const std::string& value);

// Creates (and destroys at once) a librdkafka producer or consumer from `settings`, which is
// where librdkafka checks properties against each other and loads TLS files; nullopt if that
// works, else librdkafka's message with property values hidden. The trial client connects to
// nothing (bootstrap.servers is cleared) and skips SASL mechanisms that would act on their own
// at creation (GSSAPI runs kinit, OAUTHBEARER may fetch a token).
std::optional<std::string> try_kafka_client(const KafkaSettings& settings, bool producer);

}  // namespace gitopsd
