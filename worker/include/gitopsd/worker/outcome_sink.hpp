// Where the worker's outcomes go: results, target state and dead letters. In production the
// results, state and DLQ topics (KafkaOutcomeSink); in tests, a vector.
#pragma once

#include <string>

#include "gitopsd/config.hpp"
#include "gitopsd/records.hpp"

namespace gitopsd {
class KafkaProducer;
}

namespace gitopsd::worker {

class OutcomeSink {
 public:
  virtual ~OutcomeSink() = default;
  // Each blocks until the record is stored, and returns false when it may not have been:
  // then the events behind it must not be committed (rule 1).
  virtual bool publish_result(const Result& result) = 0;
  virtual bool publish_state(const StateRecord& state) = 0;
  // `record` is a DLQ record's JSON (DESIGN.md); `key` the repository (or the event's key).
  virtual bool dead_letter(const std::string& key, const std::string& record) = 0;
};

class KafkaOutcomeSink final : public OutcomeSink {
 public:
  // `producer` must outlive the sink. Topics are restart-only config: copied once.
  KafkaOutcomeSink(KafkaProducer& producer, const KafkaTopics& topics)
      : producer_(producer), topics_(topics) {}
  bool publish_result(const Result& result) override;
  bool publish_state(const StateRecord& state) override;
  bool dead_letter(const std::string& key, const std::string& record) override;

 private:
  bool publish(const std::string& topic, const std::string& key, const std::string& value);
  KafkaProducer& producer_;
  KafkaTopics topics_;
};

}  // namespace gitopsd::worker
