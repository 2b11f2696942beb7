// Records of running commands' process groups, `<state_dir>/running/<repository>/<target>`:
// "<pgid> <start time>". A command outlives a worker that dies (SIGKILL, crash); the next
// worker finds its record and waits for it, so one target never has two commands at once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <stop_token>
#include <string>

namespace gitopsd::worker {

// How long a command's process group has between SIGTERM and SIGKILL.
constexpr std::chrono::seconds kTermGrace{5};

// Where the process group of `target`'s running command is recorded; creates its directory.
std::string process_group_record_path(const std::string& state_dir, const std::string& repository,
                                      const std::string& target);

// Writes `pgid` (a group whose leader is alive) to `record`, with the leader's start time so
// a reused pid number is never taken for it.
void record_process_group(const std::string& record, pid_t pgid);

// Waits for the command whose process group is recorded in `record` (by a worker that
// died) to end, at most `timeout`, then kills its group (SIGTERM, SIGKILL 5 s later); removes
// the record. Returns at once when there is no record or the group is gone. run_command does
// this itself; call it earlier when what comes before the command (a fresh checkout) must not
// disturb the old one.
void wait_for_leftover_command(const std::string& record, std::chrono::milliseconds timeout,
                               std::stop_token stop = {});

}  // namespace gitopsd::worker
