// Commit statuses on GitHub, GitLab and Gitea/Forgejo: DESIGN.md's mapping from results to
// states, and the one request each host's API documents for setting a status.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gitopsd/config.hpp"
#include "gitopsd/http_client.hpp"
#include "gitopsd/records.hpp"

namespace gitopsd::notifier {

// One status on one commit: context "gitopsd/<target>".
struct CommitStatus {
  std::string repository;  // Repository::name
  std::string target;
  std::string sha;  // 40 hex
  CommitState state = CommitState::pending;
  std::string description;  // cut to 140 characters (never inside a UTF-8 sequence)
  std::string target_url;   // "" = none
};

inline constexpr std::size_t kMaxDescription = 140;

// applied, unchanged, superseded, drift_corrected -> success; failed, drift_detected -> failure.
CommitState commit_state(ResultStatus status);
// What happened, in words, at most kMaxDescription characters: "applied", "failed: <message>",
// "drift detected, not corrected", ...
std::string describe(const Result& result);
// "gitopsd/<target>"
std::string status_context(std::string_view target);
// The state's word on `provider`'s API: GitLab says "failed" where the others say "failure".
std::string_view state_word(Provider provider, CommitState state);

// The request that sets `status` through `repository.api` (which must be set), as the host
// documents it:
//   GitHub  POST {api}/repos/{owner}/{repo}/statuses/{sha}, Authorization: Bearer <token>,
//           Accept: application/vnd.github+json, X-GitHub-Api-Version: 2022-11-28,
//           {"state","target_url","description","context"}
//   GitLab  POST {api}/projects/{url-encoded path_with_namespace}/statuses/{sha},
//           PRIVATE-TOKEN: <token>, {"state","target_url","description","name"}
//   Gitea   POST {api}/repos/{owner}/{repo}/statuses/{sha}, Authorization: token <token>,
//           {"state","target_url","description","context"}
// owner/repo (and GitLab's path) come from Repository::match. User-Agent is gitopsd-notifier.
HttpRequest commit_status_request(const Repository& repository, const CommitStatus& status,
                                  Duration timeout);

}  // namespace gitopsd::notifier
