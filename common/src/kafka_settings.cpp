#include "gitopsd/kafka_settings.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "gitopsd/crypto.hpp"

namespace gitopsd {
namespace {

constexpr std::string_view kHidden = "…";

// Characters of values and property names: "ssl" is no word of "ssl.ca.location".
bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
}

// Numbers and booleans are no secrets, and hiding them would blank out librdkafka's ranges.
bool may_be_secret(const std::string& value) {
  if (value.empty() || value == "true" || value == "false") return false;
  return value.find_first_not_of("0123456789.-") != std::string::npos;
}

// `message` with every whole-word occurrence of a value of `settings` replaced by "…".
std::string hide_values(std::string message, const KafkaSettings& settings) {
  for (const auto& [name, value] : settings) {
    if (!may_be_secret(value)) continue;
    for (std::size_t at = 0; (at = message.find(value, at)) != std::string::npos;) {
      const std::size_t end = at + value.size();
      const bool whole = (at == 0 || !is_word_char(message[at - 1])) &&
                         (end == message.size() || !is_word_char(message[end]));
      if (whole) {
        message.replace(at, value.size(), kHidden);
        at += kHidden.size();
      } else {
        at = end;
      }
    }
  }
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back())))
    message.pop_back();
  return message;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void ignore_log(const rd_kafka_t*, int, const char*, const char*) {}

// A numeric property of `conf`: what was set, else librdkafka's default.
long long conf_number(const rd_kafka_conf_t* conf, const char* name) {
  char value[64] = "";
  std::size_t size = sizeof value;
  if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return 0;
  return std::atoll(value);
}

using ConfHolder = std::unique_ptr<rd_kafka_conf_t, decltype(&rd_kafka_conf_destroy)>;

}  // namespace

KafkaSettings client_settings(const KafkaConfig& kafka, const std::string& client_id,
                              const KafkaSettings& defaults, const KafkaSettings& fixed) {
  KafkaSettings settings = {{"bootstrap.servers", kafka.brokers}, {"client.id", client_id}};
  settings.insert(settings.end(), defaults.begin(), defaults.end());
  settings.insert(settings.end(), kafka.properties.begin(), kafka.properties.end());
  settings.insert(settings.end(), fixed.begin(), fixed.end());
  return settings;
}

KafkaSettings producer_settings(const KafkaConfig& kafka, const std::string& client_id,
                                Duration delivery_timeout) {
  return client_settings(
      kafka, client_id,
      // Every webhook waits for its acknowledgement: a short linger batches concurrent requests
      // without adding much latency (bench/receiver_load.sh: 2 ms gave the best throughput and
      // tail on a 2-core machine; 0-1 ms more requests and a worse p99, 5 ms a slower p50).
      {{"linger.ms", "2"}},
      // Not overridable: these are what "never loses an acknowledged event" rests on, and the
      // partitioner is what partition_of() computes.
      {{"enable.idempotence", "true"},
       {"acks", "all"},
       {"message.timeout.ms", std::to_string(delivery_timeout.count())},
       {"partitioner", "consistent_random"}});
}

std::int32_t partition_of(const std::string& key, std::int32_t partitions) {
  // librdkafka's own "consistent_random" (the partitioner set above), called directly.
  return rd_kafka_msg_partitioner_consistent_random(nullptr, key.data(), key.size(), partitions,
                                                    nullptr, nullptr);
}

KafkaSettings consumer_settings(const KafkaConfig& kafka, const std::string& group_id,
                                const std::optional<std::string>& group_instance_id,
                                const std::string& client_id) {
  KafkaSettings fixed = {
      // Offsets are stored by the worker once outcomes are published.
      {"group.id", group_id},
      {"enable.auto.offset.store", "false"},
      {"enable.auto.commit", "true"},
      {"partition.assignment.strategy", "cooperative-sticky"}};
  // One per process: a value from kafka.properties, which every instance shares, would have
  // the instances fence each other out of the group.
  if (group_instance_id) fixed.emplace_back("group.instance.id", *group_instance_id);
  return client_settings(
      kafka, client_id,
      {{"auto.offset.reset", "earliest"},
       // A fresh cluster without `gitopsctl init-topics` still works where the broker allows it.
       {"allow.auto.create.topics", "true"},
       // A worker that dies without leaving (SIGKILL, a crashed host) keeps its repositories
       // until the coordinator misses its heartbeats for session.timeout.ms; librdkafka's 45 s
       // made a takeover take 45-74 s. 10 s, plus the rebalance, applies again within 15 s
       // (bench/rebalance.py) and stays clear of the brokers' group.min.session.timeout.ms
       // (6 s by default). Heartbeats come from librdkafka's own thread, so a long apply never
       // misses one; a tenth of the session is several chances before it ends, and is how
       // soon the others hear of a rebalance.
       {"session.timeout.ms", "10000"},
       {"heartbeat.interval.ms", "1000"}},
      fixed);
}

KafkaSettings reader_settings(const KafkaConfig& kafka) {
  return client_settings(kafka, "gitopsd-reader", {},
                         // A throwaway group id: partitions are assigned, not subscribed, and
                         // nothing is committed, so no group is joined.
                         {{"group.id", "gitopsd-reader-" + random_uuid()},
                          {"enable.auto.commit", "false"},
                          {"enable.partition.eof", "true"},
                          {"allow.auto.create.topics", "false"}});
}

KafkaSettings admin_settings(const KafkaConfig& kafka) {
  return client_settings(kafka, "gitopsctl", {}, {});
}

std::optional<KafkaPropertyError> check_kafka_property(const std::string& name,
                                                       const std::string& value) {
  const ConfHolder conf(rd_kafka_conf_new(), &rd_kafka_conf_destroy);
  char error[512] = "";
  const rd_kafka_conf_res_t result =
      rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), error, sizeof error);
  if (result == RD_KAFKA_CONF_OK) return std::nullopt;
  return KafkaPropertyError{result == RD_KAFKA_CONF_UNKNOWN, hide_values(error, {{name, value}})};
}

std::optional<std::string> try_kafka_client(const KafkaSettings& settings, bool producer) {
  std::string protocol = "plaintext", mechanism = "gssapi";  // librdkafka's defaults
  for (const auto& [name, value] : settings) {
    if (name == "security.protocol") protocol = lower(value);
    if (name == "sasl.mechanism" || name == "sasl.mechanisms") mechanism = lower(value);
  }
  const bool quiet_sasl = mechanism == "plain" || mechanism.starts_with("scram-");
  if (protocol.starts_with("sasl_") && !quiet_sasl) protocol.erase(0, 5);

  ConfHolder conf(rd_kafka_conf_new(), &rd_kafka_conf_destroy);
  rd_kafka_conf_set_log_cb(conf.get(), &ignore_log);  // "no bootstrap.servers" and the like
  char error[512] = "";
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), error, sizeof error) !=
        RD_KAFKA_CONF_OK)
      return hide_values(error, settings);
  }
  for (const auto& [name, value] : KafkaSettings{{"bootstrap.servers", ""},
                                                 {"security.protocol", protocol}}) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), error, sizeof error) !=
        RD_KAFKA_CONF_OK)
      return hide_values(error, settings);
  }
  if (!producer) {
    // librdkafka takes a heartbeat as slow as the session, and the group coordinator then drops
    // the worker it has just let in, again and again: no partition is ever worked on.
    const auto session = conf_number(conf.get(), "session.timeout.ms");
    const auto heartbeat = conf_number(conf.get(), "heartbeat.interval.ms");
    if (heartbeat >= session)
      return "heartbeat.interval.ms (" + std::to_string(heartbeat) +
             ") must be below session.timeout.ms (" + std::to_string(session) + ")";
  }
  rd_kafka_t* client = rd_kafka_new(producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER,
                                    conf.get(), error, sizeof error);
  if (client == nullptr) return hide_values(error, settings);
  conf.release();  // the client owns it now
  rd_kafka_destroy(client);
  return std::nullopt;
}

}  // namespace gitopsd
