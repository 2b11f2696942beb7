#include "gitopsd/worker/outcome_sink.hpp"

#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/log.hpp"

namespace gitopsd::worker {

bool KafkaOutcomeSink::publish(const std::string& topic, const std::string& key,
                               const std::string& value) {
  auto report = producer_.produce_and_wait(topic, key, value);
  if (!report.ok)
    logger("kafka")->error("publish to {} failed key={} error=\"{}\"", topic, key, report.error);
  return report.ok;
}

bool KafkaOutcomeSink::publish_result(const Result& result) {
  return publish(topics_.results, target_key(result.repository, result.target), to_json(result));
}

bool KafkaOutcomeSink::publish_state(const StateRecord& state) {
  return publish(topics_.state, target_key(state.repository, state.target), to_json(state));
}

bool KafkaOutcomeSink::dead_letter(const std::string& key, const std::string& record) {
  return publish(topics_.dlq, key, record);
}

}  // namespace gitopsd::worker
