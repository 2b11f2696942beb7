// A fetch's timeout bounds the connect and every read and write that makes no progress.
// libgit2 1.7 and later do that themselves once told the timeout; on 1.5 and 1.6 gitopsd
// replaces libgit2's plain socket stream with one that does it (install_fetch_timeouts).
#pragma once

#include <chrono>

namespace gitopsd::worker {

// Applies `timeout` to the sockets of one fetch on this thread, for its lifetime.
class FetchTimeoutScope {
 public:
  explicit FetchTimeoutScope(std::chrono::milliseconds timeout);
  ~FetchTimeoutScope();
  FetchTimeoutScope(const FetchTimeoutScope&) = delete;
  FetchTimeoutScope& operator=(const FetchTimeoutScope&) = delete;
};

// Once per process, after git_libgit2_init. Throws std::runtime_error when it cannot.
void install_fetch_timeouts();

}  // namespace gitopsd::worker
