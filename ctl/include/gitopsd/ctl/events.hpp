// `gitopsctl events`: the results topic as an audit log, each result joined with its event
// (who and what: kind, sender, merge request) from the events topic.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <ostream>
#include <string>

#include "gitopsd/config.hpp"

namespace gitopsd::ctl {

struct EventsOptions {
  std::string repository;            // filter; "" = all
  std::string target;                // filter; "" = all
  std::optional<Duration> since;     // only results of this last while; nullopt = all retained
  bool all = false;                  // also `unchanged` results of resync (poll) events
  bool follow = false;               // keep printing new results until `stop`
  bool json = false;                 // JSON lines, one per result
  Duration timeout = std::chrono::seconds(30);  // reading what is there / reaching Kafka
};

// Exit code: 0 printed; 1 Kafka not reachable or the read did not finish within the timeout.
// With `follow`, returns 0 once `stop` is set (SIGINT).
int run_events(const Config& config, const EventsOptions& options, const std::atomic<bool>& stop,
               std::ostream& out, std::ostream& err);

}  // namespace gitopsd::ctl
