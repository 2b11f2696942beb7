// The appliers of DESIGN.md: `files` makes a directory hold exactly a subtree; `exec` runs
// an operator-configured argv in a checkout. Neither involves a shell; nothing from a webhook
// payload becomes a path, argument or environment value except the commit id.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gitopsd/worker/mirror.hpp"

namespace gitopsd::worker {

// Reads a blob's content by id (the mirror's read_blob, or a test's map).
using BlobReader = std::function<std::variant<std::string, GitError>(const std::string& blob_id)>;

struct FilesOutcome {
  bool ok = false;
  std::string error;  // when !ok: what was refused or failed (e.g. "path escapes dest: ../x")
  std::size_t written = 0;    // files created or replaced
  std::size_t removed = 0;    // files and directories deleted
  std::size_t unchanged = 0;  // files already right
};

// Git's object id of a blob with this content: hex SHA-1 of "blob <size>\0<content>".
std::string git_blob_id(std::string_view content);

// Makes `dest` hold exactly `files`: adds, replaces (temp file in the same directory + rename,
// so a reader never sees a half-written file), deletes what is not in `files`, sets the
// executable bit and symlinks. Refuses, before writing anything, any path that is absolute or
// has a ".." component, and any symlink whose target would resolve outside `dest`; never
// follows a symlink already in `dest`. `dest` is created if missing (its parent must exist).
// When `verify_only`, writes nothing and reports in `written`/`removed` what it would change
// (the drift check). Comparison uses git blob ids of the files in `dest`, so no blob is read
// for a file that is already right.
FilesOutcome apply_files(const std::string& dest, const std::vector<TreeFile>& files,
                         const BlobReader& read_blob, bool verify_only = false);

// The incremental form of apply_files, for a `dest` that held the tree `changed` was computed
// against (Mirror::changed_paths): only the paths in `changed` are looked at, so the cost
// follows the change, not the tree. Deletions go first (emptied directories are removed),
// then adds and changes; the same refusals as apply_files, checked on all of `files`. Drift
// elsewhere in `dest` is left to the full apply_files of the resync check. Falls back to
// apply_files when `dest` does not exist.
FilesOutcome apply_file_changes(const std::string& dest, const std::vector<TreeFile>& files,
                                const std::vector<std::string>& changed,
                                const BlobReader& read_blob);

// Writes `files` into a fresh directory `dir` (for `exec`: a checkout of the subtree).
FilesOutcome checkout_files(const std::string& dir, const std::vector<TreeFile>& files,
                            const BlobReader& read_blob);

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
  // When set, the command's process group is recorded in this file while it runs. A group
  // recorded there by a worker that died (SIGKILL, crash: its commands outlive it) is waited
  // for, up to `timeout`, then killed, before this command starts: one target never has two
  // commands running at once.
  std::string group_file;
};

// Waits for the command whose process group is recorded in `group_file` (by a worker that
// died) to end, at most `timeout`, then kills its group; removes the record. Returns at once
// when there is no record or the group is gone. run_command does this itself; call it earlier
// when what comes before the command (a fresh checkout) must not disturb the old one.
void wait_for_leftover_command(const std::string& group_file, std::chrono::milliseconds timeout,
                               std::stop_token stop = {});

// Runs a command in its own process group, without a shell. On timeout or stop the whole
// group gets SIGTERM, then SIGKILL after a 5 s grace. Blocks the calling thread.
CommandResult run_command(const CommandSpec& spec, std::stop_token stop = {});

// The environment every applier command gets: PATH, HOME, LANG from the daemon (nothing else
// of it: secrets may live there), plus `extra` (e.g. GITOPSD_REPOSITORY, GITOPSD_COMMIT...).
std::map<std::string, std::string> command_environment(
    const std::map<std::string, std::string>& extra);

}  // namespace gitopsd::worker
