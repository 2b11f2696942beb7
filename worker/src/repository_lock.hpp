// Exclusive locks on one repository's files under state_dir (its mirror, checkouts, apply
// and running records), held across processes. The gitopsd-worker@N instances of a host
// share one state_dir: two of them must never create, fetch into or apply from the same
// repository at once (git's own lock files make the second fail, and two applies of one
// target would race). flock(2) locks belong to an open file, so they also exclude two
// workers in one process, and the kernel drops them when a worker dies.
#pragma once

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>

#include "posix_helpers.hpp"

namespace gitopsd::worker {

class RepositoryLock {
 public:
  // What the lock covers: the mirror's creation and remote config (held for milliseconds),
  // or a whole reconcile (fetch, plan, apply; held as long as applies take).
  enum class Scope { mirror_setup, reconcile };

  // Waits until the lock is free; nullopt when `stop` came first. Throws
  // std::runtime_error when the lock file cannot be opened.
  static std::optional<RepositoryLock> acquire(const std::string& state_dir,
                                               const std::string& repository, Scope scope,
                                               std::stop_token stop = {});

  // The lock file's path: `<state_dir>/locks/<repository>.<scope>.lock`.
  static std::string path(const std::string& state_dir, const std::string& repository,
                          Scope scope);

 private:
  explicit RepositoryLock(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;  // closing it releases the lock
};

}  // namespace gitopsd::worker
