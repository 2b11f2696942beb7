// A Git host's commit-status API on loopback, as each host documents it, for the contract
// tests of the notifier's clients and for the daemon's Kafka tests (GitHub and GitLab cannot
// run here; Gitea's own binary is tested for real). Over TLS by default (the client trusts
// ca_file()). Per provider:
//   GitHub  api_url() = https://localhost:P
//           POST /repos/{owner}/{repo}/statuses/{sha}      Authorization: Bearer <token>
//           GET  /repos/{owner}/{repo}/commits/{sha}/statuses
//   GitLab  api_url() = https://localhost:P/api/v4
//           POST /projects/{url-encoded path}/statuses/{sha}  PRIVATE-TOKEN: <token>
//           GET  /projects/{url-encoded path}/repository/commits/{sha}/statuses
//   Gitea   api_url() = https://localhost:P/api/v1
//           POST /repos/{owner}/{repo}/statuses/{sha}      Authorization: token <token>
//           GET  /repos/{owner}/{repo}/commits/{sha}/statuses (and /statuses/{sha})
// Answers as the host does: 201 and the status as JSON; 401 for a missing or wrong token
// (GitHub {"message":"Bad credentials"}, GitLab {"message":"401 Unauthorized"}); 404 for an
// unknown repository; an unknown sha 422 (GitHub "No commit found for SHA") or 404 (GitLab
// "404 Commit Not Found"); a bad state or body 422 (GitHub, Gitea) or 400 (GitLab); GitHub 403
// without a User-Agent, 400 for an X-GitHub-Api-Version other than 2022-11-28, 422 for a
// description over 140 characters; GitLab 400 for a second pending (or running) status of
// the same name on a commit whose one is still pending ("Cannot transition status via
// :enqueue from :pending"). The auth scheme is held exactly to the one the notifier documents
// (GitHub also takes `token`, Gitea also `Bearer`: a client that drifted would pass there).
// Rate limits and outages are forced through http() (canned answers below). Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gitopsd/config.hpp"
#include "loopback_http_server.hpp"

namespace gitopsd::test {

class StatusApiServer {
 public:
  // A status as the host keeps it, in the host's words (GitLab: "failed", "name").
  struct Status {
    std::string state;
    std::string context;  // GitHub/Gitea `context`, GitLab `name`; "default" when not given
    std::string description;
    std::string target_url;
  };

  StatusApiServer(Provider provider, std::string token, bool tls = true);

  Provider provider() const { return provider_; }
  // The repositories[].api.url to configure.
  std::string api_url() const;
  const std::string& ca_file() const { return http_.ca_file(); }
  int port() const { return http_.port(); }
  // Recorded requests, forced answers, down and up.
  LoopbackHttpServer& http() { return http_; }

  // `repository` (owner/repo or path_with_namespace, any case) exists and holds `sha`.
  void add_commit(std::string_view repository, std::string_view sha);
  void set_token(std::string token);

  // The statuses set on `sha` of `repository`, oldest first (the GET endpoints list them
  // newest first, as the hosts do).
  std::vector<Status> statuses(std::string_view repository, std::string_view sha) const;
  // The newest status of `context` on that commit.
  std::optional<Status> latest(std::string_view repository, std::string_view sha,
                               std::string_view context) const;

  // Answers the hosts send when limited, for http().force(...):
  // GitHub's spent primary limit: 403, x-ratelimit-remaining: 0, x-ratelimit-reset: `reset`.
  static CannedAnswer github_primary_limit(std::chrono::system_clock::time_point reset);
  // GitHub's secondary limit: 403 with retry-after (seconds).
  static CannedAnswer github_secondary_limit(std::chrono::seconds retry_after);
  // GitLab's: 429, Retry-After, RateLimit-Remaining: 0, RateLimit-Reset, RateLimit-ResetTime.
  static CannedAnswer gitlab_rate_limited(std::chrono::seconds retry_after);
  // 429 with `Retry-After: <retry_after>` as given (seconds or an HTTP date, or junk).
  static CannedAnswer too_many_requests(std::string retry_after);

 private:
  CannedAnswer answer(const RecordedRequest& request);
  struct Store;
  Provider provider_;
  std::shared_ptr<Store> store_;
  LoopbackHttpServer http_;  // last: its thread calls answer() until it is destroyed
};

}  // namespace gitopsd::test
