// `gitopsctl dlq list | replay`: the dead-letter topic. An entry is the event a worker gave up
// on (after max_attempts, or a fetch that kept failing) with the error, or the raw value of
// an event it refused (malformed, unknown repository), which is never replayed. A replay
// re-publishes the original event to the events topic (keyed by repository, as the receiver
// does) and then writes a gitopsd.dlq-replay.v1 marker naming the entry to the DLQ topic
// itself, so every entry is replayed once, whoever runs the command later.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "gitopsd/config.hpp"

namespace gitopsd::ctl {

struct DlqOptions {
  bool json = false;   // list: one JSON document {"entries": [...]}
  std::string id;      // replay: one entry, "PARTITION:OFFSET" as `list` prints it
  bool all = false;    // replay: every entry not replayed yet
  Duration timeout = std::chrono::seconds(30);
};

// Exit code: 0 listed; 1 Kafka not reachable in time.
int run_dlq_list(const Config& config, const DlqOptions& options, std::ostream& out,
                 std::ostream& err);

// Exit code: 0 when everything asked for was replayed (or nothing was left to replay with
// --all); 1 when the entry is unknown, was replayed already, cannot be replayed (a refused
// event), or a publish was not acknowledged.
int run_dlq_replay(const Config& config, const DlqOptions& options, std::ostream& out,
                   std::ostream& err);

}  // namespace gitopsd::ctl
