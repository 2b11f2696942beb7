// An idempotent Kafka producer (acks=all, no loss, ordered per partition) whose delivery
// reports arrive through callbacks. librdkafka types stay in the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gitopsd/config.hpp"

namespace gitopsd {

struct DeliveryReport {
  bool ok = false;
  // The broker may hold the message although the report is an error (timed out in
  // flight): treat as unknown, never as lost.
  bool possibly_persisted = false;
  std::string error;  // empty when ok
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

class KafkaProducer {
 public:
  using Callback = std::function<void(const DeliveryReport&)>;

  // `delivery_timeout` bounds the time from produce() to its report (librdkafka's
  // message.timeout.ms). Throws std::runtime_error when librdkafka refuses the settings.
  KafkaProducer(const KafkaConfig& config, const std::string& client_id, Duration delivery_timeout);
  // Flushes for up to `close_timeout` (see close()), then destroys the handle.
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Never blocks. `on_delivery` runs exactly once, on the producer's poll thread (or
  // inline when the message cannot even be queued); it must not block.
  void produce(const std::string& topic, const std::string& key, const std::string& value,
               Callback on_delivery);

  // Produces and blocks the calling thread until the delivery report arrives (bounded by the
  // delivery timeout). For worker threads, never for I/O threads.
  DeliveryReport produce_and_wait(const std::string& topic, const std::string& key,
                                  const std::string& value);

  // Waits until every queued message has its report, up to `timeout`; false if some remain.
  bool flush(Duration timeout);

  // True while the last metadata probe (every second) reached the cluster.
  bool connected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd
