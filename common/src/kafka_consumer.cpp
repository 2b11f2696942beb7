#include "gitopsd/kafka_consumer.hpp"

#include <stdexcept>

#include "gitopsd/kafka_client.hpp"
#include "gitopsd/log.hpp"

namespace gitopsd {
namespace {

int to_ms(Duration timeout) { return static_cast<int>(std::max<Duration::rep>(0, timeout.count())); }

std::optional<std::string> error_of(RdKafka::ErrorCode err) {
  if (err == RdKafka::ERR_NO_ERROR) return std::nullopt;
  return RdKafka::err2str(err);
}

// A partition list in the form librdkafka's C++ API takes (pointers it does not own), freed
// with it.
class PartitionList {
 public:
  PartitionList() = default;
  explicit PartitionList(const KafkaConsumer::Partitions& partitions, std::int64_t offset = RdKafka::Topic::OFFSET_INVALID) {
    for (const auto& p : partitions) add(p, offset);
  }
  ~PartitionList() { RdKafka::TopicPartition::destroy(list_); }
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;

  void add(const KafkaPartition& p, std::int64_t offset) {
    list_.push_back(RdKafka::TopicPartition::create(p.topic, p.partition, offset));
  }
  std::vector<RdKafka::TopicPartition*>& get() { return list_; }

 private:
  std::vector<RdKafka::TopicPartition*> list_;
};

KafkaConsumer::Partitions partitions_of_list(const std::vector<RdKafka::TopicPartition*>& list) {
  KafkaConsumer::Partitions out;
  out.reserve(list.size());
  for (const auto* p : list) out.push_back({p->topic(), p->partition()});
  return out;
}

KafkaMessage to_message(const RdKafka::Message& m) {
  KafkaMessage out;
  out.topic = m.topic_name();
  out.partition = m.partition();
  out.offset = m.offset();
  if (m.key() != nullptr) out.key = *m.key();
  if (m.payload() != nullptr) out.value.emplace(static_cast<const char*>(m.payload()), m.len());
  out.timestamp_ms = m.timestamp().timestamp;
  return out;
}

// Hands librdkafka's rebalance events to the hooks, assigning and unassigning around them in
// the group's protocol: incrementally under COOPERATIVE (cooperative-sticky), whole otherwise.
class Rebalancer : public RdKafka::RebalanceCb {
 public:
  explicit Rebalancer(KafkaConsumer::RebalanceHooks hooks) : hooks_(std::move(hooks)) {}

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    const auto named = partitions_of_list(partitions);
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (cooperative) {
        report("incremental assign", consumer->incremental_assign(partitions));
      } else {
        report("assign", consumer->assign(partitions));
      }
      if (hooks_.assigned) hooks_.assigned(named);
      return;
    }
    const bool lost = consumer->assignment_lost();
    const auto& hook = lost && hooks_.lost ? hooks_.lost : hooks_.revoked;
    if (hook) hook(named);
    if (cooperative) {
      report("incremental unassign", consumer->incremental_unassign(partitions));
    } else {
      report("unassign", consumer->unassign());
    }
  }

 private:
  static void report(const char* what, RdKafka::Error* raw) {
    std::unique_ptr<RdKafka::Error> error(raw);
    if (error) logger("kafka")->error("{} failed: {}", what, error->str());
  }
  static void report(const char* what, RdKafka::ErrorCode err) {
    if (err != RdKafka::ERR_NO_ERROR) logger("kafka")->error("{} failed: {}", what, RdKafka::err2str(err));
  }

  KafkaConsumer::RebalanceHooks hooks_;
};

}  // namespace

struct KafkaConsumer::Impl {
  explicit Impl(RebalanceHooks hooks) : rebalancer(std::move(hooks)) {}
  Rebalancer rebalancer;  // outlives the consumer, which calls it
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  bool closed = false;
};

KafkaConsumer::KafkaConsumer(const KafkaSettings& settings, RebalanceHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(hooks))) {
  auto conf = make_kafka_conf(settings);
  std::string error;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(&impl_->rebalancer), error) !=
      RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka rebalance callback: " + error);
  impl_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!impl_->consumer) throw std::runtime_error("kafka consumer: " + error);
}

KafkaConsumer::~KafkaConsumer() { close(); }

void KafkaConsumer::subscribe(const std::vector<std::string>& topics) {
  if (auto error = error_of(impl_->consumer->subscribe(topics)))
    throw std::runtime_error("kafka subscribe: " + *error);
}

void KafkaConsumer::assign(const std::vector<std::pair<KafkaPartition, std::int64_t>>& from) {
  PartitionList list;
  for (const auto& [partition, offset] : from) list.add(partition, offset);
  if (auto error = error_of(impl_->consumer->assign(list.get())))
    throw std::runtime_error("kafka assign: " + *error);
}

std::optional<KafkaMessage> KafkaConsumer::poll(Duration timeout) {
  std::unique_ptr<RdKafka::Message> m(impl_->consumer->consume(to_ms(timeout)));
  switch (m->err()) {
    case RdKafka::ERR_NO_ERROR:
      return to_message(*m);
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__PARTITION_EOF:
      return std::nullopt;
    case RdKafka::ERR__FATAL: {
      // A static member fenced by the coordinator (after its session timed out while the
      // coordinator was unreachable, librdkafka #3437): this handle never consumes again.
      std::string reason;
      impl_->consumer->fatal_error(reason);
      throw std::runtime_error("the Kafka consumer failed for good (" + reason +
                               "); the process ends so that it is started afresh");
    }
    default:
      logger("kafka")->warn("consume error={}", RdKafka::err2str(m->err()));
      return std::nullopt;
  }
}

void KafkaConsumer::pause(const Partitions& partitions) {
  PartitionList list(partitions);
  impl_->consumer->pause(list.get());
}

void KafkaConsumer::resume(const Partitions& partitions) {
  PartitionList list(partitions);
  impl_->consumer->resume(list.get());
}

std::optional<std::string> KafkaConsumer::store_offset(const KafkaPartition& partition,
                                                       std::int64_t next) {
  PartitionList list({partition}, next);
  if (auto error = error_of(impl_->consumer->offsets_store(list.get()))) return error;
  return error_of(list.get().front()->err());
}

std::optional<std::string> KafkaConsumer::commit() { return error_of(impl_->consumer->commitSync()); }

void KafkaConsumer::commit_async() { impl_->consumer->commitAsync(); }

std::optional<std::string> KafkaConsumer::seek(const KafkaPartition& partition,
                                               std::int64_t offset, Duration timeout) {
  PartitionList list({partition}, offset);
  return error_of(impl_->consumer->seek(*list.get().front(), to_ms(timeout)));
}

std::variant<std::vector<std::int32_t>, std::string> KafkaConsumer::partitions_of(
    const std::string& topic, Duration timeout) {
  RdKafka::Metadata* raw = nullptr;
  auto err = impl_->consumer->metadata(true, nullptr, &raw, to_ms(timeout));
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) return RdKafka::err2str(err);
  std::vector<std::int32_t> ids;
  for (const auto* t : *metadata->topics()) {
    if (t->topic() != topic || t->err() != RdKafka::ERR_NO_ERROR) continue;
    for (const auto* p : *t->partitions()) ids.push_back(p->id());
  }
  return ids;
}

std::variant<std::pair<std::int64_t, std::int64_t>, std::string> KafkaConsumer::query_watermarks(
    const KafkaPartition& partition, Duration timeout) {
  std::int64_t low = 0;
  std::int64_t high = 0;
  auto err = impl_->consumer->query_watermark_offsets(partition.topic, partition.partition, &low,
                                                      &high, to_ms(timeout));
  if (err != RdKafka::ERR_NO_ERROR) return RdKafka::err2str(err);
  return std::pair{low, high};
}

std::variant<std::vector<std::int64_t>, std::string> KafkaConsumer::offsets_for_time(
    const Partitions& partitions, std::int64_t since_ms, Duration timeout) {
  PartitionList list(partitions, since_ms);
  if (auto error = error_of(impl_->consumer->offsetsForTimes(list.get(), to_ms(timeout))))
    return *error;
  std::vector<std::int64_t> offsets;
  for (const auto* p : list.get()) offsets.push_back(p->offset());
  return offsets;
}

std::optional<std::int64_t> KafkaConsumer::lag(const KafkaPartition& partition) {
  std::int64_t low = 0;
  std::int64_t high = 0;
  if (impl_->consumer->get_watermark_offsets(partition.topic, partition.partition, &low, &high) !=
      RdKafka::ERR_NO_ERROR)
    return std::nullopt;
  PartitionList list({partition});
  impl_->consumer->position(list.get());
  const std::int64_t position = list.get().front()->offset();
  if (position < 0) return std::nullopt;
  return high - position;
}

void KafkaConsumer::close() {
  if (impl_->closed) return;
  impl_->closed = true;
  impl_->consumer->close();
}

}  // namespace gitopsd
