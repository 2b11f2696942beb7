// Runs an operator-configured argv (an `exec` target's command, a `files` target's `after`)
// in its own process group, without a shell, with a timeout and a tail of its output.
#pragma once

#include <chrono>
#include <map>
#include <stop_token>
#include <string>
#include <vector>

namespace gitopsd::worker {

struct CommandResult {
  bool started = false;   // false: could not be spawned (then `error` says why)
  int exit_code = -1;     // when it exited
  int signal = 0;         // when it was killed by a signal
  bool timed_out = false; // killed because `timeout` passed
  bool stopped = false;   // killed because `stop` was requested
  std::string output_tail;  // last `tail_bytes` of stdout+stderr together
  std::string error;
  std::chrono::milliseconds duration{0};
};

struct CommandSpec {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH when it has no '/'
  std::string working_dir;
  std::map<std::string, std::string> env;  // the whole environment (no inheritance)
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::size_t tail_bytes = 8192;
  // When set, the command's process group is recorded in this file while it runs (see
  // process_group_record.hpp); a group a dead worker recorded there is waited for first.
  std::string group_file;
};

// Runs a command in its own process group, without a shell. On timeout or stop the whole
// group gets SIGTERM, then SIGKILL after kTermGrace. Blocks the calling thread.
CommandResult run_command(const CommandSpec& spec, std::stop_token stop = {});

// The environment every applier command gets: PATH, HOME, LANG from the daemon (nothing else
// of it: secrets may live there), plus `extra` (e.g. GITOPSD_REPOSITORY, GITOPSD_COMMIT...).
std::map<std::string, std::string> command_environment(
    const std::map<std::string, std::string>& extra);

}  // namespace gitopsd::worker
