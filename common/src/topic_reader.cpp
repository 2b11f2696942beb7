#include "gitopsd/topic_reader.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <map>
#include <memory>

#include "gitopsd/crypto.hpp"

namespace gitopsd {
namespace {

bool set(RdKafka::Conf& conf, const std::string& name, const std::string& value, std::string& error) {
  return conf.set(name, value, error) == RdKafka::Conf::CONF_OK;
}

}  // namespace

std::variant<std::vector<TopicRecord>, std::string> read_topic_to_end(const KafkaConfig& kafka,
                                                                      const std::string& topic,
                                                                      Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
  };
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const auto& [name, value] : kafka.properties)
    if (!set(*conf, name, value, error)) return "kafka property " + name + ": " + error;
  // A throwaway group id: assign() is used, nothing is committed, no group is joined.
  if (!set(*conf, "bootstrap.servers", kafka.brokers, error) ||
      !set(*conf, "group.id", "gitopsd-reader-" + random_uuid(), error) ||
      !set(*conf, "enable.auto.commit", "false", error) ||
      !set(*conf, "enable.partition.eof", "true", error) ||
      !set(*conf, "allow.auto.create.topics", "false", error))
    return "kafka reader: " + error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) return "kafka reader: " + error;

  RdKafka::Metadata* raw = nullptr;
  auto err = consumer->metadata(true, nullptr, &raw, remaining_ms());
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) return "cannot reach Kafka: " + RdKafka::err2str(err);

  std::vector<RdKafka::TopicPartition*> partitions;
  std::map<std::int32_t, std::int64_t> end;  // partition -> high watermark still to reach
  for (const auto* t : *metadata->topics()) {
    if (t->topic() != topic || t->err() != RdKafka::ERR_NO_ERROR) continue;
    for (const auto* p : *t->partitions()) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      err = consumer->query_watermark_offsets(topic, p->id(), &low, &high, remaining_ms());
      if (err != RdKafka::ERR_NO_ERROR) {
        RdKafka::TopicPartition::destroy(partitions);
        return "cannot read offsets of " + topic + ": " + RdKafka::err2str(err);
      }
      if (high > low) {
        end[p->id()] = high;
        partitions.push_back(RdKafka::TopicPartition::create(topic, p->id(), low));
      }
    }
  }
  std::vector<TopicRecord> records;
  if (partitions.empty()) {
    consumer->close();
    return records;
  }
  consumer->assign(partitions);
  RdKafka::TopicPartition::destroy(partitions);

  while (!end.empty()) {
    if (remaining_ms() == 0) {
      consumer->close();
      return "reading " + topic + " did not finish within the timeout";
    }
    std::unique_ptr<RdKafka::Message> m(consumer->consume(std::min(remaining_ms(), 200)));
    if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) continue;  // transient; the deadline bounds retries
    auto it = end.find(m->partition());
    if (it == end.end()) continue;
    TopicRecord r;
    r.key = m->key() ? *m->key() : std::string();
    if (m->payload() != nullptr) r.value.emplace(static_cast<const char*>(m->payload()), m->len());
    r.partition = m->partition();
    r.offset = m->offset();
    r.timestamp_ms = m->timestamp().timestamp;
    records.push_back(std::move(r));
    if (m->offset() + 1 >= it->second) end.erase(it);
  }
  consumer->close();
  return records;
}

}  // namespace gitopsd
