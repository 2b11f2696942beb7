// The librdkafka settings gitopsd's Kafka clients run with, in one place: the producers and the
// worker's consumer are built from these lists, and the config loader tries the same lists at
// load, so librdkafka never refuses a value first when a daemon starts (exit 1 and a restart
// loop under systemd) instead of at `--check-config`.
#pragma once

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

// gitopsd's defaults, then kafka.properties, then what no property may change (what "never
// loses an acknowledged event" rests on: idempotence, acks=all, the delivery timeout).
KafkaSettings producer_settings(const KafkaConfig& kafka, const std::string& client_id,
                                Duration delivery_timeout);
// The worker's group consumer: it stores its own offsets once outcomes are published.
KafkaSettings consumer_settings(const KafkaConfig& kafka, const std::string& group_id);

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
