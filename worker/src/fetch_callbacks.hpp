// What libgit2 asks during a fetch, answered for one repository: which credentials to offer,
// whether to trust the SSH host key, and whether the transfer still makes progress. And the
// one place a failed fetch becomes retryable or permanent.
#pragma once

#include <git2.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "git_url.hpp"
#include "gitopsd/config.hpp"
#include "gitopsd/worker/mirror.hpp"

namespace gitopsd::worker {

// Per-fetch state shared with libgit2's callbacks.
struct FetchContext {
  const Repository* repository = nullptr;
  GitUrl url;
  std::string token;
  std::chrono::milliseconds timeout{};
  std::chrono::steady_clock::time_point deadline;
  std::map<unsigned, int> credential_attempts;  // by allowed-type mask
  bool auth_gave_up = false;
  bool timed_out = false;
  std::optional<std::string> refused;  // why a certificate / host key was refused

  bool expired() {
    if (std::chrono::steady_clock::now() > deadline) timed_out = true;
    return timed_out;
  }
  void progressed() { deadline = std::chrono::steady_clock::now() + timeout; }
};

// The callbacks, with `ctx` as their payload.
git_remote_callbacks fetch_callbacks(FetchContext& ctx);

// The failure of the step `what` ("connect", "fetch", ...), with the URL redacted and the
// token scrubbed from the message.
GitError classify_fetch_error(int code, const FetchContext& ctx, const std::string& what);

}  // namespace gitopsd::worker
