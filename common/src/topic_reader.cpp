#include "gitopsd/topic_reader.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "gitopsd/kafka_client.hpp"

namespace gitopsd {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

// A consumer outside any group with every partition of a topic assigned, and where each
// partition starts and (as of opening) ends.
struct Assigned {
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::map<std::int32_t, std::int64_t> start;  // partition -> first offset to read
  std::map<std::int32_t, std::int64_t> end;    // partition -> high watermark at opening
};

TopicRecord to_record(const RdKafka::Message& m) {
  TopicRecord r;
  r.key = m.key() ? *m.key() : std::string();
  if (m.payload() != nullptr) r.value.emplace(static_cast<const char*>(m.payload()), m.len());
  r.partition = m.partition();
  r.offset = m.offset();
  r.timestamp_ms = m.timestamp().timestamp;
  return r;
}

// `since_ms`: from the first record at or after it; nullopt: from the beginning, or from the
// end when `from_end`. A missing topic is an error with `require_topic`, else has no partitions.
std::variant<Assigned, std::string> assign_topic(const KafkaConfig& kafka, const std::string& topic,
                                                 std::optional<std::int64_t> since_ms, bool from_end,
                                                 bool require_topic, Clock::time_point deadline) {
  std::unique_ptr<RdKafka::Conf> conf;
  try {
    conf = make_kafka_conf(reader_settings(kafka));
  } catch (const std::exception& e) {
    return std::string("kafka reader: ") + e.what();
  }
  std::string error;
  Assigned out;
  out.consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!out.consumer) return "kafka reader: " + error;

  // Partition -> {low, high}. Right after a topic is created its partitions may have no
  // leader yet (or the broker may not list it yet): retried until the deadline.
  std::map<std::int32_t, std::pair<std::int64_t, std::int64_t>> layout;
  while (true) {
    layout.clear();
    error.clear();
    bool found = false;
    RdKafka::Metadata* raw = nullptr;
    auto err = out.consumer->metadata(true, nullptr, &raw, remaining_ms(deadline));
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    if (err != RdKafka::ERR_NO_ERROR) return "cannot reach Kafka: " + RdKafka::err2str(err);
    for (const auto* t : *metadata->topics()) {
      if (t->topic() != topic || t->err() != RdKafka::ERR_NO_ERROR) continue;
      found = true;
      for (const auto* p : *t->partitions()) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        err = out.consumer->query_watermark_offsets(topic, p->id(), &low, &high,
                                                    remaining_ms(deadline));
        if (err != RdKafka::ERR_NO_ERROR) {
          error = "cannot read offsets of " + topic + ": " + RdKafka::err2str(err);
          break;
        }
        layout[p->id()] = {low, high};
      }
    }
    if (found && error.empty()) break;
    if (!found && !require_topic) break;  // reads as empty
    if (remaining_ms(deadline) <= 200)
      return error.empty() ? "topic " + topic + " does not exist (gitopsctl init-topics)" : error;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::vector<RdKafka::TopicPartition*> partitions;
  for (const auto& [partition, range] : layout) {
    out.start[partition] = from_end ? range.second : range.first;
    out.end[partition] = range.second;
    partitions.push_back(RdKafka::TopicPartition::create(topic, partition, since_ms.value_or(0)));
  }
  if (since_ms && !partitions.empty()) {
    auto err = out.consumer->offsetsForTimes(partitions, remaining_ms(deadline));
    if (err != RdKafka::ERR_NO_ERROR) {
      RdKafka::TopicPartition::destroy(partitions);
      return "cannot look up offsets by time in " + topic + ": " + RdKafka::err2str(err);
    }
    // No record at or after the time: the partition's end (offset -1 from the broker).
    for (auto* p : partitions)
      out.start[p->partition()] = p->offset() >= 0 ? p->offset() : out.end[p->partition()];
  }
  for (auto* p : partitions) p->set_offset(out.start[p->partition()]);
  if (!partitions.empty()) out.consumer->assign(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  return out;
}

}  // namespace

std::variant<std::vector<TopicRecord>, std::string> read_topic_to_end(
    const KafkaConfig& kafka, const std::string& topic, Duration timeout,
    std::optional<std::int64_t> since_ms) {
  const auto deadline = Clock::now() + timeout;
  auto assigned = assign_topic(kafka, topic, since_ms, /*from_end=*/false, /*require_topic=*/false, deadline);
  if (auto* error = std::get_if<std::string>(&assigned)) return std::move(*error);
  auto& a = std::get<Assigned>(assigned);
  std::map<std::int32_t, std::int64_t> end;  // partition -> high watermark still to reach
  for (const auto& [partition, high] : a.end)
    if (high > a.start[partition]) end[partition] = high;

  std::vector<TopicRecord> records;
  while (!end.empty()) {
    if (remaining_ms(deadline) == 0) {
      a.consumer->close();
      return "reading " + topic + " did not finish within the timeout";
    }
    std::unique_ptr<RdKafka::Message> m(a.consumer->consume(std::min(remaining_ms(deadline), 200)));
    if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) continue;  // transient; the deadline bounds retries
    auto it = end.find(m->partition());
    if (it == end.end()) continue;
    records.push_back(to_record(*m));
    if (m->offset() + 1 >= it->second) end.erase(it);
  }
  a.consumer->close();
  return records;
}

struct TopicFollower::Impl {
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
};

TopicFollower::TopicFollower(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TopicFollower::~TopicFollower() { impl_->consumer->close(); }

std::variant<std::unique_ptr<TopicFollower>, std::string> TopicFollower::open(
    const KafkaConfig& kafka, const std::string& topic, std::optional<std::int64_t> since_ms,
    Duration timeout) {
  auto assigned = assign_topic(kafka, topic, since_ms, /*from_end=*/true, /*require_topic=*/true,
                               Clock::now() + timeout);
  if (auto* error = std::get_if<std::string>(&assigned)) return std::move(*error);
  auto impl = std::make_unique<Impl>();
  impl->consumer = std::move(std::get<Assigned>(assigned).consumer);
  return std::unique_ptr<TopicFollower>(new TopicFollower(std::move(impl)));
}

std::vector<TopicRecord> TopicFollower::poll(Duration wait) {
  std::vector<TopicRecord> records;
  const auto deadline = Clock::now() + wait;
  while (true) {
    // Once something has arrived, only drain what is already there.
    int ms = records.empty() ? remaining_ms(deadline) : 0;
    std::unique_ptr<RdKafka::Message> m(impl_->consumer->consume(std::min(ms, 200)));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      records.push_back(to_record(*m));
      continue;
    }
    if (!records.empty() || remaining_ms(deadline) == 0) return records;
  }
}

}  // namespace gitopsd
