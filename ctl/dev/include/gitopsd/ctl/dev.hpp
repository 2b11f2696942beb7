// `gitopsctl dev` (the gitopsctl-dev program): gitopsd on a laptop in one process. An embedded broker (embedded_broker.hpp),
// the receiver, a worker and a notifier, each with its admin listener, run on a config whose
// kafka.brokers is "embedded" (deploy/examples/dev.yaml), and the command prints how to push a
// change and send the webhook that gets it applied.
#pragma once

#include <ostream>
#include <string>

#include "gitopsd/config.hpp"

namespace gitopsd::ctl {

struct DevOptions {
  std::string config_path = "deploy/examples/dev.yaml";  // relative to the working directory
  std::string log_level = "info";                        // trace .. critical, off
  std::string gitopsctl = "gitopsctl";  // how the printed next steps run gitopsctl
  // When set, the notifier gets a `webhook` sink "dev" to this URL for every kind of outcome,
  // signed with a signing key made for the run (printed with the next steps).
  std::string notify_url;
};

// Runs until SIGINT or SIGTERM, then stops the receiver (requests in flight finish, the
// producer is flushed), then the worker (running applies finish, offsets are committed), then
// the broker; its topics are in memory only and gone with it. What to do next goes to `out`,
// logs to stderr. Returns the exit code: 0 after a signal, 2 for a config that is invalid or
// whose brokers are not "embedded", 1 when a part cannot start or fails while running.
// Call it from main before any other thread exists: it blocks SIGINT and SIGTERM in the
// calling thread so that every thread started later (librdkafka's too) inherits the mask.
int run_dev(const DevOptions& options, std::ostream& out);

// Where a running dev setup can be reached.
struct DevAddresses {
  std::string bootstrap;  // the embedded broker
  ListenAddress receiver;
  ListenAddress receiver_admin;
  ListenAddress worker_admin;
  ListenAddress notifier_admin;
  std::string notify_url;          // "" when no --notify-url
  std::string notify_signing_key;  // whsec_...; its webhook-signature key
};

// The "what to do next" text: the addresses, each repository's targets, and for the first
// repository the commands that change it, send the webhook its Git host would send (with
// `gitopsctl`, the command to run gitopsctl) and show the result, as commands a shell runs
// as they are. Reads the filesystem only to tell whether the work tree next to a local bare
// repository exists yet (else a clone of the repository in the working directory is used).
std::string dev_next_steps(const Config& config, const DevAddresses& addresses,
                           const std::string& gitopsctl);

}  // namespace gitopsd::ctl
