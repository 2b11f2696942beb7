#include "gitopsd/notifier/commit_status.hpp"

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "gitopsd/notifier/delivery.hpp"
#include "text.hpp"

namespace gitopsd::notifier {

namespace json = boost::json;

namespace {

// A path segment as the host reads it back: everything but RFC 3986's unreserved characters
// percent-encoded, '/' included (GitLab's "URL-encoded path of the project": group%2Fproject).
std::string encode_segment(std::string_view segment) {
  return boost::urls::encode(segment, boost::urls::unreserved_chars);
}

// "{api}/repos/{owner}/{repo}" for GitHub and Gitea, each of owner and repo encoded.
std::string repos_path(std::string_view match) {
  const auto slash = match.find('/');
  if (slash == std::string_view::npos) return "/repos/" + encode_segment(match);
  return "/repos/" + encode_segment(match.substr(0, slash)) + "/" +
         encode_segment(match.substr(slash + 1));
}

std::string_view without_trailing_slashes(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return url;
}

}  // namespace

CommitState commit_state(ResultStatus status) {
  switch (status) {
    case ResultStatus::applied:
    case ResultStatus::unchanged:
    case ResultStatus::superseded:
    case ResultStatus::drift_corrected:
      return CommitState::success;
    case ResultStatus::failed:
    case ResultStatus::drift_detected:
      return CommitState::failure;
  }
  return CommitState::failure;
}

std::string describe(const Result& result) {
  std::string what;
  switch (result.status) {
    case ResultStatus::applied:
      what = "applied";
      break;
    case ResultStatus::unchanged:
      what = "unchanged";
      break;
    case ResultStatus::superseded:
      what = "superseded by a newer commit";
      break;
    case ResultStatus::drift_corrected:
      what = "drift corrected";
      break;
    case ResultStatus::failed:
      what = "failed";
      break;
    case ResultStatus::drift_detected:
      what = "drift detected, not corrected";
      break;
  }
  if (result.rollback) what += " (rollback)";
  if (!result.message.empty()) what += ": " + result.message;
  return clean_utf8(what, Controls::to_space, kMaxDescription);
}

std::string status_context(std::string_view target) { return "gitopsd/" + std::string(target); }

std::string_view state_word(Provider provider, CommitState state) {
  switch (state) {
    case CommitState::pending:
      return "pending";
    case CommitState::success:
      return "success";
    case CommitState::failure:
      return provider == Provider::gitlab ? "failed" : "failure";
  }
  return "failure";
}

HttpRequest commit_status_request(const Repository& repository, const CommitStatus& status,
                                  Duration timeout) {
  const ApiConfig& api = repository.api.value();
  const std::string base(without_trailing_slashes(api.url));
  const std::string sha = encode_segment(status.sha);

  json::object body;
  body["state"] = state_word(repository.provider, status.state);
  if (!status.target_url.empty()) {
    body["target_url"] = clean_utf8(status.target_url, Controls::to_space);
  }
  body["description"] = clean_utf8(status.description, Controls::to_space, kMaxDescription);
  // GitLab names the label `name` (it takes `context` as an alias); GitHub and Gitea `context`.
  body[repository.provider == Provider::gitlab ? "name" : "context"] =
      clean_utf8(status_context(status.target), Controls::to_space);

  HttpRequest request;
  request.method = "POST";
  request.body = json::serialize(body);
  request.timeout = timeout;
  request.ca_file = api.ca_file;
  request.headers = {{"Content-Type", "application/json"},
                     {"User-Agent", std::string(kUserAgent)}};
  switch (repository.provider) {
    case Provider::github:
      // docs.github.com/rest/commits/statuses#create-a-commit-status
      request.url = base + repos_path(repository.match) + "/statuses/" + sha;
      request.headers.emplace_back("Accept", "application/vnd.github+json");
      request.headers.emplace_back("X-GitHub-Api-Version", "2022-11-28");
      request.headers.emplace_back("Authorization", "Bearer " + api.token.value);
      break;
    case Provider::gitlab:
      // docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit
      request.url = base + "/projects/" + encode_segment(repository.match) + "/statuses/" + sha;
      request.headers.emplace_back("Accept", "application/json");
      request.headers.emplace_back("PRIVATE-TOKEN", api.token.value);
      break;
    case Provider::gitea:
      // Gitea's and Forgejo's swagger: POST /repos/{owner}/{repo}/statuses/{sha}
      request.url = base + repos_path(repository.match) + "/statuses/" + sha;
      request.headers.emplace_back("Accept", "application/json");
      request.headers.emplace_back("Authorization", "token " + api.token.value);
      break;
  }
  return request;
}

}  // namespace gitopsd::notifier
