// An idempotent Kafka producer (acks=all, no loss, ordered per partition) whose delivery
// reports arrive through callbacks. librdkafka types stay in the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd {

// Whether a produced record is in the topic.
enum class Persistence {
  persisted,      // acknowledged by Kafka
  not_persisted,  // certainly not written: never sent, or refused by the broker
  unknown,        // may have been written though the report is an error (e.g. timed out in
                  // flight): never to be taken for lost, nor for acknowledged
};

struct DeliveryReport {
  bool ok = false;  // persisted
  Persistence persistence = Persistence::not_persisted;
  std::string error;  // empty when ok
  std::int32_t partition = -1;
  std::int64_t offset = -1;

  // A failure after which the record is certainly not in the topic, so producing it again
  // cannot write it twice. False when ok and when the outcome is unknown.
  bool retryable() const { return persistence == Persistence::not_persisted; }
};

class KafkaProducer {
 public:
  using Callback = std::function<void(const DeliveryReport&)>;

  // `delivery_timeout` bounds the time from produce() to its report (librdkafka's
  // message.timeout.ms). `topics`, those it will write to, have their metadata fetched from
  // the start (and are created where the broker auto-creates topics): librdkafka otherwise
  // learns a topic at its first produce, which then waits up to a second for its next
  // metadata refresh. Throws std::runtime_error when librdkafka refuses the settings.
  KafkaProducer(const KafkaConfig& config, const std::string& client_id, Duration delivery_timeout,
                const std::vector<std::string>& topics = {});
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
