// Realistic webhook deliveries for tests: payload bodies shaped like what GitHub, GitLab and
// Gitea/Forgejo send (fields and nesting from their documented examples, trimmed of noise),
// and the headers each host sends, signed. Signing uses OpenSSL directly, not gitopsd's
// crypto helpers, so tests do not verify the code with itself. Header-only; used by unit
// and integration tests.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gitopsd::test {

namespace json = boost::json;

inline const std::string kZeroSha(40, '0');
inline const std::string kShaA = "8a1f2c4be0f3d6a7c9e5b4d3f2a1908b7c6d5e4f";
inline const std::string kShaB = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";
inline const std::string kShaC = "c0ffee0123456789abcdef0123456789abcdef01";

// --- signing -------------------------------------------------------------------------------

inline std::string hmac_sha256_raw(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;
  const auto* k = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  const auto* d = data.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(data.data());
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()), d, data.size(), mac.data(), &len) ==
      nullptr) {
    throw std::runtime_error("HMAC failed");
  }
  return {reinterpret_cast<const char*>(mac.data()), len};
}

inline std::string hex_of(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out.push_back(kDigits[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 0xf]);
  }
  return out;
}

// GitHub's X-Hub-Signature-256 value.
inline std::string github_signature(std::string_view secret, std::string_view body) {
  return "sha256=" + hex_of(hmac_sha256_raw(secret, body));
}

// Gitea/Forgejo's X-Gitea-Signature / X-Forgejo-Signature value.
inline std::string gitea_signature(std::string_view secret, std::string_view body) {
  return hex_of(hmac_sha256_raw(secret, body));
}

// A Standard Webhooks `webhook-signature` entry "v1,<base64>" for a "whsec_<base64 key>" secret.
inline std::string standard_webhook_signature(std::string_view whsec_secret, std::string_view id,
                                              std::string_view timestamp, std::string_view body) {
  std::string b64(whsec_secret.substr(whsec_secret.find('_') + 1));
  std::string key(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(key.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) throw std::invalid_argument("signing secret is not base64");
  for (auto it = b64.rbegin(); it != b64.rend() && *it == '='; ++it) --n;  // padding bytes
  key.resize(static_cast<std::size_t>(n));

  const std::string mac = hmac_sha256_raw(
      key, std::string(id) + "." + std::string(timestamp) + "." + std::string(body));
  std::string sig(4 * ((mac.size() + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(sig.data()),
                                  reinterpret_cast<const unsigned char*>(mac.data()),
                                  static_cast<int>(mac.size()));
  sig.resize(static_cast<std::size_t>(len));
  return "v1," + sig;
}

// --- deliveries: what a host sends -----------------------------------------------------------

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Delivery {
  std::string path;  // request target
  Headers headers;
  std::string body;
};

inline Delivery github_delivery(
    std::string_view event, std::string body, std::string_view secret,
    std::string_view delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958") {
  Headers h{{"Content-Type", "application/json"},
            {"User-Agent", "GitHub-Hookshot/044aadd"},
            {"X-GitHub-Event", std::string(event)},
            {"X-GitHub-Delivery", std::string(delivery_id)},
            {"X-GitHub-Hook-ID", "292430182"},
            {"X-Hub-Signature-256", github_signature(secret, body)}};
  return {"/hooks/github", std::move(h), std::move(body)};
}

// GitHub's "application/x-www-form-urlencoded" content type: the JSON in a `payload` field;
// the signature covers the encoded body.
inline std::string form_encode_payload(std::string_view json_text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out = "payload=";
  for (const char c : json_text) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-' ||
        b == '.' || b == '_' || b == '*') {
      out.push_back(c);
    } else if (b == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kDigits[b >> 4]);
      out.push_back(kDigits[b & 0xf]);
    }
  }
  return out;
}

inline Delivery github_form_delivery(
    std::string_view event, std::string_view json_text, std::string_view secret,
    std::string_view delivery_id = "0b6f4a6e-cc79-11e3-8a4e-5d0f4c7a13b2") {
  Delivery d = github_delivery(event, form_encode_payload(json_text), secret, delivery_id);
  d.headers[0].second = "application/x-www-form-urlencoded";
  return d;
}

// GitLab with a secret token (X-Gitlab-Token).
inline Delivery gitlab_delivery(std::string_view event, std::string body, std::string_view token,
                                std::string_view uuid = "0e0b6e5c-2b3a-4d43-9a8d-5f1e7c3d2a10") {
  Headers h{{"Content-Type", "application/json"},
            {"User-Agent", "GitLab/17.6.0"},
            {"X-Gitlab-Event", std::string(event)},
            {"X-Gitlab-Token", std::string(token)},
            {"X-Gitlab-Instance", "https://gitlab.example.com"},
            {"X-Gitlab-Webhook-UUID", "6f7b0a4c-1d2e-4f3a-8b9c-0d1e2f3a4b5c"},
            {"X-Gitlab-Event-UUID", std::string(uuid)},
            {"Idempotency-Key", std::string(uuid)}};
  return {"/hooks/gitlab", std::move(h), std::move(body)};
}

// GitLab with a signing token (Standard Webhooks); `sent` becomes webhook-timestamp.
inline Delivery gitlab_signed_delivery(std::string_view event, std::string body,
                                       std::string_view whsec_secret, std::string_view id,
                                       std::chrono::system_clock::time_point sent) {
  const std::string timestamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(sent.time_since_epoch()).count());
  Headers h{{"Content-Type", "application/json"},
            {"User-Agent", "GitLab/17.6.0"},
            {"X-Gitlab-Event", std::string(event)},
            {"X-Gitlab-Instance", "https://gitlab.example.com"},
            {"X-Gitlab-Event-UUID", std::string(id)},
            {"Idempotency-Key", std::string(id)},
            {"webhook-id", std::string(id)},
            {"webhook-timestamp", timestamp},
            {"webhook-signature", standard_webhook_signature(whsec_secret, id, timestamp, body)}};
  return {"/hooks/gitlab", std::move(h), std::move(body)};
}

// Gitea sends its own headers and GitHub's (Forgejo adds X-Forgejo-*; both are accepted).
inline Delivery gitea_delivery(
    std::string_view event, std::string body, std::string_view secret,
    std::string_view delivery_id = "f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f") {
  const std::string sig = gitea_signature(secret, body);
  Headers h{{"Content-Type", "application/json"},
            {"User-Agent", "Go-http-client/1.1"},
            {"X-Gitea-Event", std::string(event)},
            {"X-Gitea-Event-Type", std::string(event)},
            {"X-Gitea-Delivery", std::string(delivery_id)},
            {"X-Gitea-Signature", sig},
            {"X-GitHub-Event", std::string(event)},
            {"X-GitHub-Event-Type", std::string(event)},
            {"X-GitHub-Delivery", std::string(delivery_id)},
            {"X-Hub-Signature", "sha1=0000000000000000000000000000000000000000"},
            {"X-Hub-Signature-256", "sha256=" + sig}};
  return {"/hooks/gitea", std::move(h), std::move(body)};
}

// --- payload bodies ------------------------------------------------------------------------

struct PushOptions {
  bool forced = false;
  bool deleted = false;  // GitHub's flag; GitLab/Gitea signal deletion by after = zeros
  std::string ref{};     // overrides "refs/heads/<branch>", e.g. "refs/tags/v1.2.0"
  std::string sender = "octocat";
};

struct PullRequestOptions {
  std::string action = "closed";
  bool merged = true;
  std::int64_t number = 42;
  std::string title = "Scale web to 4 replicas";
  std::string author = "hubot";
  std::string merged_by = "octocat";  // empty: merged_by is null
  std::string head_branch = "feature/scale-web";
};

struct MergeRequestOptions {
  std::string action = "merge";
  std::int64_t iid = 7;
  std::string title = "Bump nginx to 1.27";
  std::string username = "jsmith";
  bool has_merge_commit = true;  // false: merge_commit_sha null (fast-forward merge)
  std::string last_commit = kShaC;
};

namespace detail {

inline std::string owner_of(std::string_view full_name) {
  return std::string(full_name.substr(0, full_name.rfind('/')));
}
inline std::string name_of(std::string_view full_name) {
  return std::string(full_name.substr(full_name.rfind('/') + 1));
}

inline json::object github_user(std::string_view login, std::int64_t id) {
  return {{"login", login},
          {"id", id},
          {"node_id", "MDQ6VXNlcjU4MzIzMQ=="},
          {"avatar_url", "https://avatars.githubusercontent.com/u/" + std::to_string(id) + "?v=4"},
          {"html_url", "https://github.com/" + std::string(login)},
          {"type", "User"},
          {"site_admin", false}};
}

inline json::object github_repository(std::string_view full_name) {
  const std::string base = "https://github.com/" + std::string(full_name);
  return {{"id", 1296269},
          {"node_id", "MDEwOlJlcG9zaXRvcnkxMjk2MjY5"},
          {"name", name_of(full_name)},
          {"full_name", full_name},
          {"private", true},
          {"owner", github_user(owner_of(full_name), 9919)},
          {"html_url", base},
          {"description", nullptr},
          {"fork", false},
          {"url", "https://api.github.com/repos/" + std::string(full_name)},
          {"created_at", 1700000000},
          {"updated_at", "2026-11-20T09:00:00Z"},
          {"pushed_at", 1763902800},
          {"git_url", "git://github.com/" + std::string(full_name) + ".git"},
          {"ssh_url", "git@github.com:" + std::string(full_name) + ".git"},
          {"clone_url", base + ".git"},
          {"default_branch", "main"},
          {"visibility", "private"}};
}

inline json::object commit(std::string_view sha, std::string_view url_base, std::string_view user) {
  const json::object person{
      {"name", "Mona Lisa"}, {"email", "mona@example.com"}, {"username", user}};
  return {{"id", sha},
          {"tree_id", "f9d2a07e9488b91af2641b26b9407fe22a451433"},
          {"distinct", true},
          {"message", "Scale web to 4 replicas"},
          {"timestamp", "2026-11-23T13:59:58+01:00"},
          {"url", std::string(url_base) + "/commit/" + std::string(sha)},
          {"author", person},
          {"committer", person},
          {"added", json::array{}},
          {"removed", json::array{}},
          {"modified", json::array{"envs/prod/web/deployment.yaml"}}};
}

inline json::object gitlab_project(std::string_view path) {
  const std::string web = "https://gitlab.example.com/" + std::string(path);
  return {{"id", 15},
          {"name", name_of(path)},
          {"description", ""},
          {"web_url", web},
          {"avatar_url", nullptr},
          {"git_ssh_url", "git@gitlab.example.com:" + std::string(path) + ".git"},
          {"git_http_url", web + ".git"},
          {"namespace", owner_of(path)},
          {"visibility_level", 0},
          {"path_with_namespace", path},
          {"default_branch", "main"},
          {"ci_config_path", nullptr},
          {"homepage", web},
          {"url", "git@gitlab.example.com:" + std::string(path) + ".git"},
          {"ssh_url", "git@gitlab.example.com:" + std::string(path) + ".git"},
          {"http_url", web + ".git"}};
}

inline json::object gitea_user(std::string_view login, std::int64_t id) {
  return {{"id", id},
          {"login", login},
          {"login_name", ""},
          {"full_name", ""},
          {"email", std::string(login) + "@noreply.gitea.example.com"},
          {"avatar_url", "https://gitea.example.com/avatars/" + std::to_string(id)},
          {"language", ""},
          {"is_admin", false},
          {"restricted", false},
          {"active", false},
          {"visibility", "public"},
          {"username", login}};
}

inline json::object gitea_repository(std::string_view full_name) {
  const std::string base = "https://gitea.example.com/" + std::string(full_name);
  return {{"id", 3},
          {"owner", gitea_user(owner_of(full_name), 2)},
          {"name", name_of(full_name)},
          {"full_name", full_name},
          {"description", ""},
          {"empty", false},
          {"private", false},
          {"fork", false},
          {"template", false},
          {"parent", nullptr},
          {"mirror", false},
          {"size", 42},
          {"html_url", base},
          {"url", "https://gitea.example.com/api/v1/repos/" + std::string(full_name)},
          {"ssh_url", "git@gitea.example.com:" + std::string(full_name) + ".git"},
          {"clone_url", base + ".git"},
          {"default_branch", "main"},
          {"archived", false},
          {"created_at", "2026-01-05T10:11:12Z"},
          {"updated_at", "2026-11-23T12:59:58Z"}};
}

inline std::string ref_for(std::string_view branch, const PushOptions& o) {
  return o.ref.empty() ? "refs/heads/" + std::string(branch) : o.ref;
}

}  // namespace detail

// GitHub `push`.
inline std::string github_push(std::string_view full_name, std::string_view branch,
                               std::string_view before, std::string_view after,
                               const PushOptions& o = {}) {
  const std::string base = "https://github.com/" + std::string(full_name);
  const bool gone = o.deleted || after == kZeroSha;
  const json::value head =
      gone ? json::value(nullptr) : json::value(detail::commit(after, base, o.sender));
  const json::object payload{
      {"ref", detail::ref_for(branch, o)},
      {"before", before},
      {"after", after},
      {"repository", detail::github_repository(full_name)},
      {"pusher", {{"name", o.sender}, {"email", o.sender + "@users.noreply.github.com"}}},
      {"sender", detail::github_user(o.sender, 583231)},
      {"created", before == kZeroSha},
      {"deleted", o.deleted},
      {"forced", o.forced},
      {"base_ref", nullptr},
      {"compare", base + "/compare/" + std::string(before.substr(0, 12)) + "..." +
                      std::string(after.substr(0, 12))},
      {"commits", gone ? json::array{} : json::array{head}},
      {"head_commit", head}};
  return json::serialize(payload);
}

// GitHub `pull_request`; by default closed and merged into `base_branch`.
inline std::string github_pull_request(std::string_view full_name, std::string_view base_branch,
                                       std::string_view base_sha, std::string_view merge_sha,
                                       const PullRequestOptions& o = {}) {
  const std::string base = "https://github.com/" + std::string(full_name);
  const std::string number = std::to_string(o.number);
  const json::object repo = detail::github_repository(full_name);
  const json::object pr{
      {"url", "https://api.github.com/repos/" + std::string(full_name) + "/pulls/" + number},
      {"id", 1904513214},
      {"node_id", "PR_kwDOABCD0s5xhN2-"},
      {"html_url", base + "/pull/" + number},
      {"diff_url", base + "/pull/" + number + ".diff"},
      {"number", o.number},
      {"state", o.action == "closed" ? "closed" : "open"},
      {"locked", false},
      {"title", o.title},
      {"user", detail::github_user(o.author, 7)},
      {"body", "Traffic doubled since Monday."},
      {"created_at", "2026-11-22T08:00:00Z"},
      {"updated_at", "2026-11-23T13:00:00Z"},
      {"closed_at", o.action == "closed" ? json::value("2026-11-23T13:00:00Z") : nullptr},
      {"merged_at", o.merged ? json::value("2026-11-23T13:00:00Z") : nullptr},
      {"merge_commit_sha", merge_sha},
      {"draft", false},
      {"head",
       {{"label", detail::owner_of(full_name) + ":" + o.head_branch},
        {"ref", o.head_branch},
        {"sha", kShaC},
        {"repo", repo}}},
      {"base",
       {{"label", detail::owner_of(full_name) + ":" + std::string(base_branch)},
        {"ref", base_branch},
        {"sha", base_sha},
        {"repo", repo}}},
      {"author_association", "MEMBER"},
      {"auto_merge", nullptr},
      {"merged", o.merged},
      {"mergeable", nullptr},
      {"merged_by", o.merged_by.empty() ? json::value(nullptr)
                                        : json::value(detail::github_user(o.merged_by, 583231))},
      {"comments", 0},
      {"commits", 1},
      {"additions", 1},
      {"deletions", 1},
      {"changed_files", 1}};
  const json::object payload{
      {"action", o.action},
      {"number", o.number},
      {"pull_request", pr},
      {"repository", repo},
      {"sender", detail::github_user(o.merged_by.empty() ? "octocat" : o.merged_by, 583231)}};
  return json::serialize(payload);
}

inline std::string github_pull_request_merged(std::string_view full_name,
                                              std::string_view base_branch,
                                              std::string_view base_sha,
                                              std::string_view merge_sha) {
  return github_pull_request(full_name, base_branch, base_sha, merge_sha);
}

// GitHub `ping`, sent when a hook is created.
inline std::string github_ping(std::string_view full_name) {
  const json::object payload{
      {"zen", "Keep it logically awesome."},
      {"hook_id", 292430182},
      {"hook",
       {{"type", "Repository"},
        {"id", 292430182},
        {"name", "web"},
        {"active", true},
        {"events", json::array{"push", "pull_request"}},
        {"config",
         {{"content_type", "json"},
          {"insecure_ssl", "0"},
          {"url", "https://gitops.example.com/hooks/github"}}},
        {"last_response", {{"code", nullptr}, {"status", "unused"}, {"message", nullptr}}}}},
      {"repository", detail::github_repository(full_name)},
      {"sender", detail::github_user("octocat", 583231)}};
  return json::serialize(payload);
}

// GitLab `Push Hook` (or `Tag Push Hook` when o.ref is a tag).
inline std::string gitlab_push(std::string_view path, std::string_view branch,
                               std::string_view before, std::string_view after,
                               const PushOptions& o = {}) {
  const std::string ref = detail::ref_for(branch, o);
  const bool tag = ref.starts_with("refs/tags/");
  const json::object project = detail::gitlab_project(path);
  const std::string web = "https://gitlab.example.com/" + std::string(path);
  const json::array commits =
      after == kZeroSha ? json::array{} : json::array{detail::commit(after, web + "/-", o.sender)};
  const json::object payload{
      {"object_kind", tag ? "tag_push" : "push"},
      {"event_name", tag ? "tag_push" : "push"},
      {"before", before},
      {"after", after},
      {"ref", ref},
      {"ref_protected", true},
      {"checkout_sha", after == kZeroSha ? json::value(nullptr) : json::value(after)},
      {"message", nullptr},
      {"user_id", 4},
      {"user_name", "John Smith"},
      {"user_username", o.sender},
      {"user_email", ""},
      {"user_avatar", "https://gitlab.example.com/uploads/-/system/user/avatar/4/avatar.png"},
      {"project_id", 15},
      {"project", project},
      {"commits", commits},
      {"total_commits_count", commits.size()},
      {"push_options", json::object{}},
      {"repository",
       {{"name", detail::name_of(path)},
        {"url", project.at("url")},
        {"description", ""},
        {"homepage", web},
        {"git_http_url", project.at("git_http_url")},
        {"git_ssh_url", project.at("git_ssh_url")},
        {"visibility_level", 0}}}};
  return json::serialize(payload);
}

// GitLab `Merge Request Hook`; by default the merge of !7 into `target_branch`.
inline std::string gitlab_merge_request(std::string_view path, std::string_view target_branch,
                                        std::string_view merge_sha,
                                        const MergeRequestOptions& o = {}) {
  const json::object project = detail::gitlab_project(path);
  const std::string web = "https://gitlab.example.com/" + std::string(path);
  const json::object user{{"id", 1},
                          {"name", "John Smith"},
                          {"username", o.username},
                          {"avatar_url", nullptr},
                          {"email", "[REDACTED]"}};
  const json::object attributes{
      {"id", 99},
      {"iid", o.iid},
      {"target_branch", target_branch},
      {"source_branch", "bump-nginx"},
      {"source_project_id", 15},
      {"author_id", 51},
      {"assignee_ids", json::array{}},
      {"title", o.title},
      {"created_at", "2026-11-22 08:00:00 UTC"},
      {"updated_at", "2026-11-23 13:00:00 UTC"},
      {"state_id", o.action == "merge" ? 3 : 1},
      {"state", o.action == "merge" ? "merged" : "opened"},
      {"merge_status", "can_be_merged"},
      {"detailed_merge_status", o.action == "merge" ? "not_open" : "mergeable"},
      {"target_project_id", 15},
      {"description", "Security fix."},
      {"draft", false},
      {"url", web + "/-/merge_requests/" + std::to_string(o.iid)},
      {"source", project},
      {"target", project},
      {"last_commit",
       {{"id", o.last_commit},
        {"message", "Bump nginx to 1.27\n"},
        {"title", "Bump nginx to 1.27"},
        {"timestamp", "2026-11-23T12:58:00+00:00"},
        {"url", web + "/-/commit/" + o.last_commit},
        {"author", {{"name", "John Smith"}, {"email", "jsmith@example.com"}}}}},
      {"labels", json::array{}},
      {"action", o.action},
      {"merge_commit_sha",
       o.has_merge_commit && o.action == "merge" ? json::value(merge_sha) : json::value(nullptr)}};
  const json::object payload{{"object_kind", "merge_request"},
                             {"event_type", "merge_request"},
                             {"user", user},
                             {"project", project},
                             {"object_attributes", attributes},
                             {"labels", json::array{}},
                             {"changes", json::object{}},
                             {"repository",
                              {{"name", detail::name_of(path)},
                               {"url", project.at("url")},
                               {"description", ""},
                               {"homepage", web}}}};
  return json::serialize(payload);
}

// Gitea/Forgejo `push`.
inline std::string gitea_push(std::string_view full_name, std::string_view branch,
                              std::string_view before, std::string_view after,
                              const PushOptions& o = {}) {
  const std::string base = "https://gitea.example.com/" + std::string(full_name);
  const bool gone = after == kZeroSha;
  const json::value head =
      gone ? json::value(nullptr) : json::value(detail::commit(after, base, o.sender));
  const json::object payload{
      {"ref", detail::ref_for(branch, o)},
      {"before", before},
      {"after", after},
      {"compare_url", base + "/compare/" + std::string(before) + "..." + std::string(after)},
      {"commits", gone ? json::array{} : json::array{head}},
      {"total_commits", gone ? 0 : 1},
      {"head_commit", head},
      {"repository", detail::gitea_repository(full_name)},
      {"pusher", detail::gitea_user(o.sender, 1)},
      {"sender", detail::gitea_user(o.sender, 1)}};
  return json::serialize(payload);
}

// Gitea/Forgejo `pull_request`; by default closed and merged into `base_branch`.
inline std::string gitea_pull_request(std::string_view full_name, std::string_view base_branch,
                                      std::string_view base_sha, std::string_view merge_sha,
                                      const PullRequestOptions& o = {}) {
  const std::string base = "https://gitea.example.com/" + std::string(full_name);
  const json::object repo = detail::gitea_repository(full_name);
  const std::string number = std::to_string(o.number);
  const json::object pr{
      {"id", 311},
      {"url", base + "/pulls/" + number},
      {"number", o.number},
      {"user", detail::gitea_user(o.author, 5)},
      {"title", o.title},
      {"body", ""},
      {"labels", json::array{}},
      {"state", o.action == "closed" ? "closed" : "open"},
      {"is_locked", false},
      {"html_url", base + "/pulls/" + number},
      {"diff_url", base + "/pulls/" + number + ".diff"},
      {"mergeable", true},
      {"merged", o.merged},
      {"merged_at", o.merged ? json::value("2026-11-23T13:00:00Z") : nullptr},
      {"merge_commit_sha", o.merged ? json::value(merge_sha) : nullptr},
      {"merged_by", o.merged && !o.merged_by.empty()
                        ? json::value(detail::gitea_user(o.merged_by, 1))
                        : json::value(nullptr)},
      {"base",
       {{"label", base_branch},
        {"ref", base_branch},
        {"sha", base_sha},
        {"repo_id", 3},
        {"repo", repo}}},
      {"head",
       {{"label", o.head_branch},
        {"ref", o.head_branch},
        {"sha", kShaC},
        {"repo_id", 3},
        {"repo", repo}}},
      {"merge_base", base_sha},
      {"created_at", "2026-11-22T08:00:00Z"},
      {"updated_at", "2026-11-23T13:00:00Z"},
      {"closed_at", o.action == "closed" ? json::value("2026-11-23T13:00:00Z") : nullptr}};
  const json::object payload{
      {"action", o.action},
      {"number", o.number},
      {"pull_request", pr},
      {"requested_reviewer", nullptr},
      {"repository", repo},
      {"sender", detail::gitea_user(o.merged_by.empty() ? "gitea" : o.merged_by, 1)},
      {"commit_id", ""},
      {"review", nullptr}};
  return json::serialize(payload);
}

}  // namespace gitopsd::test
