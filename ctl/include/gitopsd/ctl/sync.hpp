// `gitopsctl sync`: asks the workers to reconcile a repository now, by publishing an event of
// kind `manual` (provider gitopsd) to the events topic. The worker fetches the branch, applies
// the tip where it changed and checks the other targets for drift (DESIGN.md rule 6); with
// targets named, only those.
#pragma once

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd::ctl {

struct SyncOptions {
  std::string repository;
  std::vector<std::string> targets;  // empty = every target of the repository
  bool wait = false;                 // wait for every target's result and print them
  bool json = false;                 // {"event_id", "repository", "targets", "results": [...]}
  std::string sender;                // who asked (the audit log's "who"); the login name
  Duration timeout = std::chrono::seconds(30);       // reaching Kafka, the publish
  Duration wait_timeout = std::chrono::minutes(15);  // with `wait`: the results
};

// Exit code: 0 published (and with `wait`, no target failed); 1 not published, a target
// failed, or the results did not all come within wait_timeout; 2 a repository or target that
// is not in the config.
int run_sync(const Config& config, const SyncOptions& options, std::ostream& out,
             std::ostream& err);

}  // namespace gitopsd::ctl
