#include "gitopsd/topic_reader.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <thread>

namespace gitopsd {
namespace {

using Clock = std::chrono::steady_clock;

Duration remaining(Clock::time_point deadline) {
  return std::max(Duration::zero(), std::chrono::duration_cast<Duration>(deadline - Clock::now()));
}

// A consumer outside any group with every partition of a topic assigned, and where each
// partition starts and (as of opening) ends.
struct Assigned {
  std::unique_ptr<KafkaConsumer> consumer;
  std::map<std::int32_t, std::int64_t> start;  // partition -> first offset to read
  std::map<std::int32_t, std::int64_t> end;    // partition -> high watermark at opening
};

// Partition -> {low, high} of `topic`: empty when it does not exist, or an error message.
// Right after a topic is created its partitions may have no leader yet (or the broker may not
// list it yet): retried until the deadline when `require_topic`, or while offsets fail.
std::variant<std::map<std::int32_t, std::pair<std::int64_t, std::int64_t>>, std::string> layout_of(
    KafkaConsumer& consumer, const std::string& topic, bool require_topic, Clock::time_point deadline) {
  while (true) {
    auto ids = consumer.partitions_of(topic, remaining(deadline));
    if (auto* error = std::get_if<std::string>(&ids)) return "cannot reach Kafka: " + *error;
    const auto& partitions = std::get<std::vector<std::int32_t>>(ids);
    std::map<std::int32_t, std::pair<std::int64_t, std::int64_t>> layout;
    std::string error;
    for (std::int32_t p : partitions) {
      auto watermarks = consumer.query_watermarks({topic, p}, remaining(deadline));
      if (auto* e = std::get_if<std::string>(&watermarks)) {
        error = "cannot read offsets of " + topic + ": " + *e;
        break;
      }
      layout[p] = std::get<std::pair<std::int64_t, std::int64_t>>(watermarks);
    }
    if (!partitions.empty() && error.empty()) return layout;
    if (partitions.empty() && !require_topic) return layout;  // reads as empty
    if (remaining(deadline) <= std::chrono::milliseconds(200))
      return error.empty() ? "topic " + topic + " does not exist (gitopsctl init-topics)" : error;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// `since_ms`: from the first record at or after it; nullopt: from the beginning, or from the
// end when `from_end`. A missing topic is an error with `require_topic`, else has no partitions.
std::variant<Assigned, std::string> assign_topic(const KafkaConfig& kafka, const std::string& topic,
                                                 std::optional<std::int64_t> since_ms, bool from_end,
                                                 bool require_topic, Clock::time_point deadline) {
  Assigned out;
  try {
    out.consumer = std::make_unique<KafkaConsumer>(reader_settings(kafka));
  } catch (const std::exception& e) {
    return std::string("kafka reader: ") + e.what();
  }
  auto layout = layout_of(*out.consumer, topic, require_topic, deadline);
  if (auto* error = std::get_if<std::string>(&layout)) return std::move(*error);
  KafkaConsumer::Partitions partitions;
  for (const auto& [partition, range] : std::get<0>(layout)) {
    out.start[partition] = from_end ? range.second : range.first;
    out.end[partition] = range.second;
    partitions.push_back({topic, partition});
  }
  if (since_ms && !partitions.empty()) {
    auto offsets = out.consumer->offsets_for_time(partitions, *since_ms, remaining(deadline));
    if (auto* error = std::get_if<std::string>(&offsets))
      return "cannot look up offsets by time in " + topic + ": " + *error;
    // No record at or after the time: the partition's end (offset -1 from the broker).
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      const std::int64_t offset = std::get<std::vector<std::int64_t>>(offsets)[i];
      const std::int32_t p = partitions[i].partition;
      out.start[p] = offset >= 0 ? offset : out.end[p];
    }
  }
  std::vector<std::pair<KafkaPartition, std::int64_t>> from;
  for (const auto& p : partitions) from.emplace_back(p, out.start[p.partition]);
  if (!from.empty()) {
    try {
      out.consumer->assign(from);
    } catch (const std::exception& e) {
      return e.what();
    }
  }
  return out;
}

}  // namespace

std::variant<std::vector<TopicRecord>, std::string> read_topic_to_end(
    const KafkaConfig& kafka, const std::string& topic, Duration timeout,
    std::optional<std::int64_t> since_ms) {
  auto read = read_topic_if_exists(kafka, topic, timeout, since_ms);
  if (auto* error = std::get_if<std::string>(&read)) return std::move(*error);
  return std::move(std::get<0>(read)).value_or(std::vector<TopicRecord>{});
}

std::variant<std::optional<std::vector<TopicRecord>>, std::string> read_topic_if_exists(
    const KafkaConfig& kafka, const std::string& topic, Duration timeout,
    std::optional<std::int64_t> since_ms) {
  const auto deadline = Clock::now() + timeout;
  auto assigned = assign_topic(kafka, topic, since_ms, /*from_end=*/false, /*require_topic=*/false, deadline);
  if (auto* error = std::get_if<std::string>(&assigned)) return std::move(*error);
  auto& a = std::get<Assigned>(assigned);
  // A topic has at least one partition: none means it does not exist.
  if (a.end.empty()) return std::nullopt;
  std::map<std::int32_t, std::int64_t> end;  // partition -> high watermark still to reach
  for (const auto& [partition, high] : a.end)
    if (high > a.start[partition]) end[partition] = high;

  std::vector<TopicRecord> records;
  while (!end.empty()) {
    if (remaining(deadline) == Duration::zero())
      return "reading " + topic + " did not finish within the timeout";
    // Nothing: timed out, a partition's end, or a transient error; the deadline bounds retries.
    auto m = a.consumer->poll(std::min(remaining(deadline), Duration(200)));
    if (!m) continue;
    auto it = end.find(m->partition);
    if (it == end.end()) continue;
    const bool last = m->offset + 1 >= it->second;
    records.push_back(std::move(*m));
    if (last) end.erase(it);
  }
  return records;
}

struct TopicFollower::Impl {
  std::unique_ptr<KafkaConsumer> consumer;
};

TopicFollower::TopicFollower(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TopicFollower::~TopicFollower() = default;

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
    const Duration left = records.empty() ? remaining(deadline) : Duration::zero();
    if (auto m = impl_->consumer->poll(std::min(left, Duration(200)))) {
      records.push_back(std::move(*m));
      continue;
    }
    if (!records.empty() || remaining(deadline) == Duration::zero()) return records;
  }
}

}  // namespace gitopsd
