// gitopsd-notifier's engine: a member of its own consumer group (notify.group_id) on the
// events, results and DLQ topics. Each record becomes deliveries (commit statuses on the Git
// host, notifications to the sinks that want it) handed to the Dispatcher; its offset is
// stored only once every one of them is delivered, dropped or replaced, so a crash redoes
// what was under way (at-least-once) and never skips a record. Each commit status's outcome
// is published on the compacted statuses topic.
#pragma once

#include <memory>
#include <stop_token>

#include "gitopsd/config.hpp"
#include "gitopsd/metrics.hpp"

namespace gitopsd::notifier {

class Engine {
 public:
  // Throws std::runtime_error when librdkafka refuses the settings.
  Engine(std::shared_ptr<const Config> config, Metrics& metrics);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Consumes until `stop` is requested (READY=1 once in the group, WATCHDOG=1 from the poll
  // loop); then gives deliveries under way a few seconds, stores what finished, commits and
  // leaves the group.
  void run(std::stop_token stop);
  bool ready() const;  // in the group and the Kafka cluster reachable
  // Taken by the poll loop within one turn: new tokens, sinks, repositories and limits apply
  // to the deliveries made from then on.
  void reload(std::shared_ptr<const Config> config);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd::notifier
