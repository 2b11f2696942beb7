// `gitopsctl status`: what every target runs, from the compacted state topic read from the
// beginning outside any consumer group, plus configured targets that have no state yet; and
// each target's last commit status on the Git host, from the compacted statuses topic.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "gitopsd/config.hpp"

namespace gitopsd::ctl {

struct StatusOptions {
  std::string repository;  // filter; "" = all (must be configured when set)
  std::string target;      // filter; "" = all
  bool json = false;  // one JSON document: {"targets": [...], "commit_statuses_unavailable": ...}
  Duration timeout = std::chrono::seconds(30);
};

// Exit code: 0 printed; 1 Kafka not reachable in time; 2 a filter names something not in
// the config.
int run_status(const Config& config, const StatusOptions& options, std::ostream& out,
               std::ostream& err);

}  // namespace gitopsd::ctl
