#include "gitopsd/kafka_producer.hpp"

#include <atomic>
#include <condition_variable>
#include <future>
#include <stdexcept>
#include <thread>

#include "gitopsd/kafka_client.hpp"
#include "gitopsd/log.hpp"

namespace gitopsd {
namespace {

// Owns the Callback between produce() and its delivery report.
struct Pending {
  KafkaProducer::Callback callback;
};

class DeliveryReporter : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<Pending> pending(static_cast<Pending*>(message.msg_opaque()));
    DeliveryReport report;
    report.persistence =
        delivery_persistence(static_cast<rd_kafka_resp_err_t>(message.err()),
                             static_cast<rd_kafka_msg_status_t>(message.status()));
    report.ok = report.persistence == Persistence::persisted;
    if (!report.ok) report.error = RdKafka::err2str(message.err());
    report.partition = message.partition();
    report.offset = message.offset();
    if (pending && pending->callback) pending->callback(report);
  }
};


}  // namespace

struct KafkaProducer::Impl {
  DeliveryReporter reporter;
  std::unique_ptr<RdKafka::Producer> producer;
  // Held so they stay among the handle's known topics, which every probe refreshes.
  std::vector<std::unique_ptr<RdKafka::Topic>> topics;
  std::atomic<bool> stopping{false};
  std::atomic<bool> connected{false};
  std::thread poller;  // serves delivery reports
  std::thread prober;  // keeps `connected` current
  std::mutex probe_mutex;
  std::condition_variable probe_wake;

  void poll_loop() {
    while (!stopping.load()) producer->poll(50);
  }

  void probe_loop() {
    std::unique_lock lock(probe_mutex);
    while (!stopping.load()) {
      lock.unlock();
      RdKafka::Metadata* metadata = nullptr;
      // The known topics only (those of the constructor, and those produced to): cheap, fails
      // when no broker answers, and keeps their leaders current before the first produce.
      auto err = producer->metadata(false, nullptr, &metadata, 1000);
      delete metadata;
      bool now_connected = err == RdKafka::ERR_NO_ERROR;
      if (now_connected != connected.exchange(now_connected)) {
        if (now_connected) {
          logger("kafka")->info("cluster reachable");
        } else {
          logger("kafka")->warn("cluster unreachable error={}", RdKafka::err2str(err));
        }
      }
      lock.lock();
      probe_wake.wait_for(lock, std::chrono::seconds(1), [&] { return stopping.load(); });
    }
  }
};

KafkaProducer::KafkaProducer(const KafkaConfig& config, const std::string& client_id,
                             Duration delivery_timeout, const std::vector<std::string>& topics)
    : impl_(std::make_unique<Impl>()) {
  auto conf = make_kafka_conf(producer_settings(config, client_id, delivery_timeout));
  std::string error;
  if (conf->set("dr_cb", &impl_->reporter, error) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka delivery callback: " + error);
  impl_->producer.reset(RdKafka::Producer::create(conf.get(), error));
  if (!impl_->producer) throw std::runtime_error("kafka producer: " + error);
  for (const auto& name : topics) {
    impl_->topics.emplace_back(RdKafka::Topic::create(impl_->producer.get(), name, nullptr, error));
    if (!impl_->topics.back()) throw std::runtime_error("kafka topic " + name + ": " + error);
  }
  impl_->poller = std::thread([impl = impl_.get()] { impl->poll_loop(); });
  impl_->prober = std::thread([impl = impl_.get()] { impl->probe_loop(); });
}

KafkaProducer::~KafkaProducer() {
  flush(std::chrono::seconds(10));
  {
    std::lock_guard lock(impl_->probe_mutex);
    impl_->stopping.store(true);
  }
  impl_->probe_wake.notify_all();
  impl_->prober.join();
  impl_->poller.join();
  // Reports still owed after the flush time out here, so every callback runs once.
  impl_->producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  impl_->producer->poll(0);
}

void KafkaProducer::produce(const std::string& topic, const std::string& key,
                            const std::string& value, Callback on_delivery) {
  auto pending = std::make_unique<Pending>(Pending{std::move(on_delivery)});
  auto err = impl_->producer->produce(
      topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
      const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0, nullptr,
      pending.get());
  if (err == RdKafka::ERR_NO_ERROR) {
    pending.release();  // owned by the delivery report now
    return;
  }
  DeliveryReport report;  // never queued: not persisted
  report.error = RdKafka::err2str(err);
  pending->callback(report);
}

DeliveryReport KafkaProducer::produce_and_wait(const std::string& topic, const std::string& key,
                                               const std::string& value) {
  std::promise<DeliveryReport> promise;
  auto future = promise.get_future();
  produce(topic, key, value, [&promise](const DeliveryReport& report) { promise.set_value(report); });
  return future.get();
}

bool KafkaProducer::flush(Duration timeout) {
  return impl_->producer->flush(static_cast<int>(timeout.count())) == RdKafka::ERR_NO_ERROR;
}

bool KafkaProducer::connected() const { return impl_->connected.load(); }

}  // namespace gitopsd
