#include "status_api_server.hpp"

#include <time.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <map>
#include <mutex>

#include "gitopsd/crypto.hpp"

namespace gitopsd::test {

namespace json = boost::json;

namespace {

constexpr std::string_view kGitHubVersion = "2022-11-28";
constexpr std::string_view kGitHubDocs = "https://docs.github.com/rest/commits/statuses#create-a-commit-status";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

CannedAnswer json_answer(int status, const json::value& body) {
  return CannedAnswer{status,
                      {{"Content-Type", "application/json; charset=utf-8"}},
                      json::serialize(body),
                      false,
                      {}};
}

// GitHub's error body: {"message", "documentation_url", "status"}.
CannedAnswer github_error(int status, std::string_view message,
                          std::string_view docs = "https://docs.github.com/rest") {
  return json_answer(status, json::object{{"message", message},
                                          {"documentation_url", docs},
                                          {"status", std::to_string(status)}});
}

std::string http_date(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buffer;
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::size_t utf8_chars(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A body field that must be a string when present (null and absent: `fallback`).
struct Field {
  bool ok = true;
  std::string value;
};
Field string_field(const json::object& body, std::string_view name, std::string fallback = "") {
  const auto* v = body.if_contains(name);
  if (v == nullptr || v->is_null()) return {true, std::move(fallback)};
  if (!v->is_string()) return {false, ""};
  return {true, std::string(v->as_string())};
}

}  // namespace

struct StatusApiServer::Store {
  struct Stored {
    std::int64_t id = 0;
    Status status;
    std::string created_at;
  };
  mutable std::mutex mutex;
  std::string token;
  std::int64_t next_id = 1;
  // lower-case repository -> sha -> statuses, oldest first
  std::map<std::string, std::map<std::string, std::vector<Stored>>> repositories;
};

StatusApiServer::StatusApiServer(Provider provider, std::string token, bool tls)
    : provider_(provider),
      store_(std::make_shared<Store>()),
      http_(tls, [this](const RecordedRequest& request) { return answer(request); }) {
  store_->token = std::move(token);
}

std::string StatusApiServer::api_url() const {
  switch (provider_) {
    case Provider::github:
      return http_.url();
    case Provider::gitlab:
      return http_.url("/api/v4");
    case Provider::gitea:
      return http_.url("/api/v1");
  }
  return http_.url();
}

void StatusApiServer::add_commit(std::string_view repository, std::string_view sha) {
  std::lock_guard lock(store_->mutex);
  store_->repositories[lower(repository)][lower(sha)];
}

void StatusApiServer::set_token(std::string token) {
  std::lock_guard lock(store_->mutex);
  store_->token = std::move(token);
}

std::vector<StatusApiServer::Status> StatusApiServer::statuses(std::string_view repository,
                                                               std::string_view sha) const {
  std::lock_guard lock(store_->mutex);
  std::vector<Status> out;
  const auto repo = store_->repositories.find(lower(repository));
  if (repo == store_->repositories.end()) return out;
  const auto commit = repo->second.find(lower(sha));
  if (commit == repo->second.end()) return out;
  for (const auto& stored : commit->second) out.push_back(stored.status);
  return out;
}

std::optional<StatusApiServer::Status> StatusApiServer::latest(std::string_view repository,
                                                               std::string_view sha,
                                                               std::string_view context) const {
  const auto all = statuses(repository, sha);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (lower(it->context) == lower(context)) return *it;
  }
  return std::nullopt;
}

CannedAnswer StatusApiServer::github_primary_limit(std::chrono::system_clock::time_point reset) {
  CannedAnswer a = github_error(
      403, "API rate limit exceeded for user ID 1.",
      "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api");
  a.headers.insert(a.headers.end(), {{"x-ratelimit-limit", "5000"},
                                     {"x-ratelimit-remaining", "0"},
                                     {"x-ratelimit-used", "5000"},
                                     {"x-ratelimit-reset", std::to_string(unix_seconds(reset))},
                                     {"x-ratelimit-resource", "core"}});
  return a;
}

CannedAnswer StatusApiServer::github_secondary_limit(std::chrono::seconds retry_after) {
  CannedAnswer a = github_error(
      403,
      "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
      "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits");
  a.headers.emplace_back("retry-after", std::to_string(retry_after.count()));
  return a;
}

CannedAnswer StatusApiServer::gitlab_rate_limited(std::chrono::seconds retry_after) {
  const auto reset = std::chrono::system_clock::now() + retry_after;
  return CannedAnswer{429,
                      {{"Content-Type", "text/plain"},
                       {"RateLimit-Name", "throttle_authenticated_api"},
                       {"RateLimit-Limit", "60"},
                       {"RateLimit-Observed", "67"},
                       {"RateLimit-Remaining", "0"},
                       {"RateLimit-Reset", std::to_string(unix_seconds(reset))},
                       {"RateLimit-ResetTime", http_date(reset)},
                       {"Retry-After", std::to_string(retry_after.count())}},
                      "Retry later\n",
                      false,
                      {}};
}

CannedAnswer StatusApiServer::too_many_requests(std::string retry_after) {
  return CannedAnswer{429,
                      {{"Content-Type", "application/json"}, {"Retry-After", std::move(retry_after)}},
                      R"({"message":"Too Many Requests"})",
                      false,
                      {}};
}

CannedAnswer StatusApiServer::answer(const RecordedRequest& request) {
  const bool gitlab = provider_ == Provider::gitlab;
  const auto not_found = [&] {
    if (gitlab) return json_answer(404, json::object{{"error", "404 Not Found"}});
    if (provider_ == Provider::gitea) {
      return json_answer(404, json::object{{"errors", nullptr},
                                           {"message", "The target couldn't be found."},
                                           {"url", api_url() + "/swagger"}});
    }
    return github_error(404, "Not Found");
  };
  const auto unauthorized = [&] {
    if (gitlab) return json_answer(401, json::object{{"message", "401 Unauthorized"}});
    if (provider_ == Provider::gitea) {
      return json_answer(401, json::object{{"message", "token is required"},
                                           {"url", api_url() + "/swagger"}});
    }
    return github_error(401, "Bad credentials");
  };

  // The route, from the decoded path segments (GitLab's project id is one segment,
  // "group%2Fproject"; sent unencoded it is two, and no route matches, as on GitLab).
  auto parsed = boost::urls::parse_origin_form(request.target);
  if (!parsed) return not_found();
  std::vector<std::string> segments;
  for (auto segment : parsed->segments()) segments.emplace_back(segment);
  if (provider_ != Provider::github) {
    const std::string version = gitlab ? "v4" : "v1";
    if (segments.size() < 2 || segments[0] != "api" || segments[1] != version) return not_found();
    segments.erase(segments.begin(), segments.begin() + 2);
  }

  if (provider_ == Provider::github) {
    if (request.header("user-agent").empty()) {
      return CannedAnswer{403,
                          {{"Content-Type", "text/plain"}},
                          "Request forbidden by administrative rules. Please make sure your "
                          "request has a User-Agent header.\n",
                          false,
                          {}};
    }
    const std::string version = request.header("x-github-api-version");
    if (!version.empty() && version != kGitHubVersion) {
      return github_error(400, "Unsupported 'api-version' header: '" + version + "'.",
                          "https://docs.github.com/rest/about-the-rest-api/api-versions");
    }
  }

  std::string token;
  {
    std::lock_guard lock(store_->mutex);
    token = store_->token;
  }
  switch (provider_) {
    case Provider::github:
      if (request.header("authorization").empty()) {
        return github_error(401, "Requires authentication");
      }
      if (request.header("authorization") != "Bearer " + token) return unauthorized();
      break;
    case Provider::gitlab:
      if (request.header("private-token") != token) return unauthorized();
      break;
    case Provider::gitea:
      if (request.header("authorization") != "token " + token) return unauthorized();
      break;
  }

  // {repository, sha, is a write}
  std::string repository;
  std::string sha;
  bool create = false;
  const auto& s = segments;
  if (gitlab) {
    if (s.size() == 4 && s[0] == "projects" && s[2] == "statuses" && request.method == "POST") {
      repository = s[1], sha = s[3], create = true;
    } else if (s.size() == 6 && s[0] == "projects" && s[2] == "repository" && s[3] == "commits" &&
               s[5] == "statuses" && request.method == "GET") {
      repository = s[1], sha = s[4];
    } else {
      return not_found();
    }
  } else {
    if (s.size() == 5 && s[0] == "repos" && s[3] == "statuses" &&
        (request.method == "POST" || (provider_ == Provider::gitea && request.method == "GET"))) {
      repository = s[1] + "/" + s[2], sha = s[4], create = request.method == "POST";
    } else if (s.size() == 6 && s[0] == "repos" && s[3] == "commits" && s[5] == "statuses" &&
               request.method == "GET") {
      repository = s[1] + "/" + s[2], sha = s[4];
    } else {
      return not_found();
    }
  }

  std::lock_guard lock(store_->mutex);
  const auto repo = store_->repositories.find(lower(repository));
  if (repo == store_->repositories.end()) {
    if (gitlab) return json_answer(404, json::object{{"message", "404 Project Not Found"}});
    return not_found();
  }
  const auto commit = repo->second.find(lower(sha));

  const auto to_json = [&](const Store::Stored& stored) {
    const Status& st = stored.status;
    const json::value target_url =
        st.target_url.empty() ? json::value(nullptr) : json::value(st.target_url);
    const json::value description =
        st.description.empty() ? json::value(nullptr) : json::value(st.description);
    const json::object creator{{"login", "gitopsd-bot"}, {"id", 1}, {"type", "User"}};
    switch (provider_) {
      case Provider::github:
        return json::object{{"url", api_url() + "/repos/" + repository + "/statuses/" + sha},
                            {"id", stored.id},
                            {"node_id", "SC_" + std::to_string(stored.id)},
                            {"state", st.state},
                            {"description", description},
                            {"target_url", target_url},
                            {"context", st.context},
                            {"created_at", stored.created_at},
                            {"updated_at", stored.created_at},
                            {"creator", creator}};
      case Provider::gitlab:
        return json::object{{"id", stored.id},
                            {"sha", sha},
                            {"ref", nullptr},
                            {"status", st.state},
                            {"name", st.context},
                            {"target_url", target_url},
                            {"description", description},
                            {"created_at", stored.created_at},
                            {"started_at", nullptr},
                            {"finished_at", nullptr},
                            {"allow_failure", false},
                            {"coverage", nullptr},
                            {"author", json::object{{"id", 1}, {"username", "gitopsd-bot"}}}};
      case Provider::gitea:
        return json::object{{"id", stored.id},
                            {"status", st.state},
                            {"target_url", st.target_url},
                            {"description", st.description},
                            {"url", api_url() + "/repos/" + repository + "/statuses/" + sha},
                            {"context", st.context},
                            {"creator", creator},
                            {"created_at", stored.created_at},
                            {"updated_at", stored.created_at}};
    }
    return json::object{};
  };

  if (!create) {
    json::array list;
    if (commit != repo->second.end()) {
      for (auto it = commit->second.rbegin(); it != commit->second.rend(); ++it) {
        list.push_back(to_json(*it));
      }
    }
    return json_answer(200, list);
  }

  // The body. GitLab reads JSON only with its content type (else it sees no parameters).
  json::object body;
  const bool json_body = lower(request.header("content-type")).starts_with("application/json");
  if (json_body || !gitlab) {
    boost::system::error_code ec;
    json::value value = json::parse(request.body, ec);
    if (ec) {
      if (gitlab) return json_answer(400, json::object{{"error", "invalid JSON"}});
      return github_error(400, "Problems parsing JSON");
    }
    if (!value.is_object()) {
      if (gitlab) return json_answer(400, json::object{{"error", "state is missing"}});
      return github_error(422, "Invalid request.\n\nInvalid input: object is expected.", kGitHubDocs);
    }
    body = value.as_object();
  }

  Status status;
  const auto state = string_field(body, "state");
  const auto description = string_field(body, "description");
  const auto target_url = string_field(body, "target_url");
  // GitLab: `name`, or its alias `context`.
  const auto context = gitlab ? string_field(body, "name", "") : string_field(body, "context", "default");
  const auto gitlab_context = string_field(body, "context", "default");
  if (gitlab) {
    static const std::vector<std::string> kStates = {"pending", "running", "success",
                                                     "failed",  "canceled", "skipped"};
    if (!body.contains("state")) return json_answer(400, json::object{{"error", "state is missing"}});
    if (!state.ok || std::find(kStates.begin(), kStates.end(), state.value) == kStates.end()) {
      return json_answer(400, json::object{{"error", "state does not have a valid value"}});
    }
    for (const auto* name : {"description", "target_url", "name", "context"}) {
      if (!string_field(body, name).ok) {
        return json_answer(400, json::object{{"error", std::string(name) + " is invalid"}});
      }
    }
    if (commit == repo->second.end()) {
      return json_answer(404, json::object{{"message", "404 Commit Not Found"}});
    }
    status.context = context.value.empty() ? gitlab_context.value : context.value;
  } else {
    static const std::vector<std::string> kStates = {"error", "failure", "pending", "success"};
    if (!body.contains("state")) {
      return github_error(422, "Invalid request.\n\n\"state\" wasn't supplied.", kGitHubDocs);
    }
    if (!state.ok || std::find(kStates.begin(), kStates.end(), state.value) == kStates.end()) {
      return github_error(422,
                          "Invalid request.\n\nFor 'properties/state', " +
                              json::serialize(body.at("state")) +
                              " is not one of [\"error\", \"failure\", \"pending\", \"success\"].",
                          kGitHubDocs);
    }
    for (const auto* name : {"description", "target_url", "context"}) {
      if (!string_field(body, name).ok) {
        return github_error(422,
                            "Invalid request.\n\nFor 'properties/" + std::string(name) + "', " +
                                json::serialize(body.at(name)) + " is not a string or null.",
                            kGitHubDocs);
      }
    }
    if (utf8_chars(description.value) > 140) {
      return json_answer(
          422, json::object{{"message", "Validation Failed"},
                            {"errors", json::array{json::object{
                                           {"resource", "Status"},
                                           {"code", "custom"},
                                           {"field", "description"},
                                           {"message", "description is too long (maximum is 140 characters)"}}}},
                            {"documentation_url", kGitHubDocs},
                            {"status", "422"}});
    }
    if (commit == repo->second.end()) {
      if (provider_ == Provider::gitea) return not_found();
      return github_error(422, "No commit found for SHA: " + sha, kGitHubDocs);
    }
    status.context = context.value;
  }
  status.state = state.value;
  status.description = description.value;
  status.target_url = target_url.value;

  auto& on_commit = commit->second;
  if (gitlab) {
    // GitLab updates the pending or running status of that name in place, and refuses to move
    // it to the state it is in (its state machine has no such transition).
    for (auto it = on_commit.rbegin(); it != on_commit.rend(); ++it) {
      if (it->status.context != status.context) continue;
      const std::string& was = it->status.state;
      if ((was == "pending" || was == "running") && was == status.state) {
        const std::string event = was == "pending" ? "enqueue" : "run";
        return json_answer(400, json::object{{"message", "Cannot transition status via :" + event +
                                                             " from :" + was +
                                                             " (Reason(s): Status cannot transition via \"" +
                                                             event + "\")"}});
      }
      if (was == "pending" || was == "running") {
        it->status = status;
        return json_answer(201, to_json(*it));
      }
      break;
    }
  }
  on_commit.push_back(Store::Stored{store_->next_id++, status,
                                    format_timestamp(std::chrono::system_clock::now())});
  CannedAnswer created = json_answer(201, to_json(on_commit.back()));
  if (provider_ == Provider::github) {
    created.headers.emplace_back("Location",
                                 api_url() + "/repos/" + repository + "/statuses/" + sha);
  }
  return created;
}

}  // namespace gitopsd::test
