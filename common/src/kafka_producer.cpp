#include "gitopsd/kafka_producer.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <stdexcept>
#include <thread>

#include "gitopsd/kafka_log.hpp"
#include "gitopsd/kafka_settings.hpp"
#include "gitopsd/log.hpp"

namespace gitopsd {
namespace {

void set_property(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
  std::string error;
  if (conf.set(name, value, error) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka property " + name + ": " + error);
}

// Owns the Callback between produce() and its delivery report.
struct Pending {
  KafkaProducer::Callback callback;
};

class DeliveryReporter : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<Pending> pending(static_cast<Pending*>(message.msg_opaque()));
    DeliveryReport report;
    report.ok = message.err() == RdKafka::ERR_NO_ERROR;
    report.possibly_persisted = message.status() == RdKafka::Message::MSG_STATUS_POSSIBLY_PERSISTED;
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
      // Brokers only (no topics): cheap, and fails when no broker answers.
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
                             Duration delivery_timeout)
    : impl_(std::make_unique<Impl>()) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const auto& [name, value] : producer_settings(config, client_id, delivery_timeout))
    set_property(*conf, name, value);
  std::string error;
  if (conf->set("dr_cb", &impl_->reporter, error) != RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", &kafka_event_logger(), error) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka callbacks: " + error);
  impl_->producer.reset(RdKafka::Producer::create(conf.get(), error));
  if (!impl_->producer) throw std::runtime_error("kafka producer: " + error);
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
  DeliveryReport report;
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
