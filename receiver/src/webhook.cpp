#include "gitopsd/receiver/webhook.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <optional>
#include <span>

#include "gitopsd/receiver/normalize.hpp"
#include "gitopsd/receiver/payload_scan.hpp"
#include "gitopsd/receiver/signature.hpp"

namespace gitopsd::receiver {
namespace json = boost::json;

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// Whether every %XX in application/x-www-form-urlencoded text is complete and hex.
bool valid_form_escapes(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) return false;
    i += 2;
  }
  return true;
}

// The still-encoded `payload` field of a GitHub form delivery; nullopt when the body has
// none or its escapes are broken.
std::optional<std::string_view> form_payload_field(std::string_view body) {
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == "payload") {
      const std::string_view value = pair.substr(eq + 1);
      if (!valid_form_escapes(value)) return std::nullopt;
      return value;
    }
  }
  return std::nullopt;
}

// The JSON text of a body: the body itself, or the `payload` field of a GitHub form delivery
// ('+' a space, %XX a byte), decoded a bounded piece at a time so that no decoded copy of
// the whole is ever made.
struct JsonText {
  std::string_view bytes;
  bool form_encoded = false;  // then `bytes` passed valid_form_escapes

  // Calls `sink(std::string_view piece)` on consecutive pieces until it returns false.
  template <class Sink>
  void feed(Sink&& sink) const {
    if (!form_encoded) {
      sink(bytes);
      return;
    }
    char piece[4096];
    std::size_t n = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      char c = bytes[i];
      if (c == '+') {
        c = ' ';
      } else if (c == '%') {
        c = static_cast<char>(hex_value(bytes[i + 1]) * 16 + hex_value(bytes[i + 2]));
        i += 2;
      }
      piece[n++] = c;
      if (n == sizeof piece) {
        if (!sink(std::string_view(piece, n))) return;
        n = 0;
      }
    }
    if (n > 0) sink(std::string_view(piece, n));
  }
};

// Host delivery ids are UUIDs or numbers. Anything else (a control character, or bytes that
// are not UTF-8 and so would make the published event invalid JSON) is refused.
bool is_delivery_id(std::string_view id) {
  return std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

std::string ignored_body(std::string_view reason) {
  return json::serialize(json::object{{"status", "ignored"}, {"reason", reason}});
}

// Builds the Decision step by step, so every early answer carries what was learned so far.
class Decider {
 public:
  Decider(const WebhookRequest& request, const std::vector<Repository>& repositories)
      : request_(request), repositories_(repositories) {}

  // The checks on the head alone; nullopt when the body is to be looked at.
  std::optional<Decision> check_head();
  Decision run();

 private:
  std::string_view header(std::string_view name) const {
    return request_.header ? request_.header(name) : std::string_view();
  }
  Decision reply(int status, Outcome outcome, std::string body) {
    d_.action = Reply{status, std::move(body), {}};
    d_.outcome = outcome;
    return std::move(d_);
  }
  Decision error(int status, Outcome outcome, std::string_view message) {
    d_.reason = message;
    return reply(status, outcome, error_body(message));
  }
  std::optional<Provider> detect_provider(std::string_view path);
  std::string_view event_header() const;
  std::string event_header_name() const;
  std::string_view delivery_header() const;
  std::optional<Decision> verify(const std::vector<Secret>& secrets, std::string_view raw_body);

  const WebhookRequest& request_;
  const std::vector<Repository>& repositories_;
  Provider provider_ = Provider::github;
  bool form_encoded_ = false;  // a GitHub application/x-www-form-urlencoded body
  Decision d_;
};

std::string_view Decider::event_header() const {
  switch (provider_) {
    case Provider::github:
      return header("X-GitHub-Event");
    case Provider::gitlab:
      return header("X-Gitlab-Event");
    case Provider::gitea: {
      const std::string_view gitea = header("X-Gitea-Event");
      return gitea.empty() ? header("X-Forgejo-Event") : gitea;
    }
  }
  return {};
}

std::string Decider::event_header_name() const {
  switch (provider_) {
    case Provider::github:
      return "X-GitHub-Event";
    case Provider::gitlab:
      return "X-Gitlab-Event";
    case Provider::gitea:
      return "X-Gitea-Event";
  }
  return {};
}

std::string_view Decider::delivery_header() const {
  const auto first_of = [this](std::initializer_list<std::string_view> names) {
    for (const std::string_view n : names) {
      if (const std::string_view v = header(n); !v.empty()) return v;
    }
    return std::string_view();
  };
  switch (provider_) {
    case Provider::github:
      return first_of({"X-GitHub-Delivery"});
    // Only a name the caller cannot change on a replay: a signed request's webhook-id is
    // covered by the signature; the unsigned Idempotency-Key never names a delivery.
    case Provider::gitlab:
      return header("webhook-signature").empty() ? header("X-Gitlab-Event-UUID")
                                                 : header("webhook-id");
    case Provider::gitea:
      return first_of({"X-Gitea-Delivery", "X-Forgejo-Delivery"});
  }
  return {};
}

std::optional<Provider> Decider::detect_provider(std::string_view path) {
  if (path == "/hooks/github") return Provider::github;
  if (path == "/hooks/gitlab") return Provider::gitlab;
  if (path == "/hooks/gitea") return Provider::gitea;
  // Gitea also sends GitHub's headers, so it is asked about first.
  if (!header("X-Gitea-Event").empty() || !header("X-Forgejo-Event").empty()) {
    return Provider::gitea;
  }
  if (!header("X-Gitlab-Event").empty()) return Provider::gitlab;
  if (!header("X-GitHub-Event").empty()) return Provider::github;
  return std::nullopt;
}

// Empty when genuine, else the 401 to answer.
std::optional<Decision> Decider::verify(const std::vector<Secret>& secrets,
                                        std::string_view raw_body) {
  bool genuine = false;
  std::string_view signature;
  switch (provider_) {
    case Provider::github:
      signature = header("X-Hub-Signature-256");
      genuine = verify_github(signature, raw_body, secrets);
      break;
    case Provider::gitlab:
      if (signature = header("webhook-signature"); !signature.empty()) {
        const std::string_view timestamp = header("webhook-timestamp");
        if (header("webhook-id").empty() || timestamp.empty()) {
          return error(401, Outcome::unauthorized, "webhook-id or webhook-timestamp header missing");
        }
        if (!standard_webhook_timestamp_fresh(timestamp, request_.now)) {
          return error(401, Outcome::unauthorized, "webhook timestamp outside tolerance");
        }
        genuine = verify_standard_webhook(header("webhook-id"), timestamp, signature, raw_body,
                                          secrets, request_.now);
      } else {
        signature = header("X-Gitlab-Token");
        genuine = verify_gitlab_token(signature, secrets);
      }
      break;
    case Provider::gitea:
      signature = header("X-Gitea-Signature");
      if (signature.empty()) signature = header("X-Forgejo-Signature");
      genuine = verify_gitea(signature, raw_body, secrets);
      break;
  }
  if (signature.empty()) return error(401, Outcome::unauthorized, "signature missing");
  if (!genuine) return error(401, Outcome::unauthorized, "signature does not match");
  return std::nullopt;
}

std::optional<Decision> Decider::check_head() {
  const std::string_view path = request_.target.substr(0, request_.target.find('?'));
  if (path != "/hooks" && path != "/hooks/github" && path != "/hooks/gitlab" &&
      path != "/hooks/gitea") {
    return error(404, Outcome::not_found, "no such endpoint");
  }
  if (request_.method != "POST") {
    Decision d = error(405, Outcome::method_not_allowed, "method not allowed; use POST");
    std::get<Reply>(d.action).allow = "POST";
    return d;
  }

  const auto provider = detect_provider(path);
  if (!provider) {
    return error(400, Outcome::bad_request, "no X-Gitea-Event, X-Gitlab-Event or X-GitHub-Event header");
  }
  provider_ = *provider;
  d_.provider = provider_;
  d_.event_type = event_header();
  d_.delivery_id = delivery_header();
  if (d_.event_type.empty()) {
    return error(400, Outcome::bad_request, event_header_name() + " header missing");
  }

  const std::string_view content_type = header("Content-Type");
  const std::string_view media_type = trim(content_type.substr(0, content_type.find(';')));
  form_encoded_ =
      provider_ == Provider::github && iequals(media_type, "application/x-www-form-urlencoded");
  if (!form_encoded_ && !iequals(media_type, "application/json")) {
    return error(415, Outcome::unsupported_media_type,
                 provider_ == Provider::github
                     ? "content type must be application/json or application/x-www-form-urlencoded"
                     : "content type must be application/json");
  }
  return std::nullopt;
}

Decision Decider::run() {
  if (std::optional<Decision> refused = check_head()) return std::move(*refused);

  JsonText json_text{request_.body, false};
  if (form_encoded_) {
    const auto field = form_payload_field(request_.body);
    if (!field) return error(400, Outcome::bad_request, "form body has no valid payload field");
    json_text = JsonText{*field, true};
  }

  // Not yet authenticated: only a scan, which keeps a fixed set of capped values whatever
  // the body holds: the repository and branch to verify against, and the fields normalize()
  // reads once the signature has verified. The body is never parsed into a tree.
  PayloadScanner scanner(provider_, d_.event_type, normalize_fields(provider_, d_.event_type));
  json_text.feed([&scanner](std::string_view piece) { return scanner.write(piece); });
  const PayloadScan scan = scanner.finish();
  if (scan.status == PayloadScan::Status::invalid_json) {
    return error(400, Outcome::bad_request, "body is not valid JSON");
  }
  if (scan.status == PayloadScan::Status::not_object) {
    return error(400, Outcome::bad_request, "body is not a JSON object");
  }

  const std::string& name = scan.repository.value;
  if (name.empty()) return error(400, Outcome::bad_request, "payload names no repository");
  // Host names are case-insensitive on GitHub, GitLab and Gitea alike. A name cut by the
  // scan is longer than any configured one.
  std::vector<const Repository*> candidates;
  for (const Repository& r : repositories_) {
    if (r.provider == provider_ && !scan.repository.truncated && iequals(r.match, name)) {
      candidates.push_back(&r);
    }
  }
  if (candidates.empty()) return error(401, Outcome::unauthorized, "repository not configured");

  const std::string& branch = scan.branch.value;
  const auto tracked = std::find_if(candidates.begin(), candidates.end(), [&](const Repository* r) {
    return !scan.branch.truncated && r->branch == branch;
  });
  // Not about a tracked branch: still only a genuine caller learns that it is ignored, so
  // any candidate's secret must verify it.
  std::vector<Secret> secrets;
  if (tracked != candidates.end()) {
    d_.repository = (*tracked)->name;
  } else {
    for (const Repository* r : candidates) {
      secrets.insert(secrets.end(), r->secrets.begin(), r->secrets.end());
    }
    if (candidates.size() == 1) d_.repository = candidates.front()->name;
  }
  if (auto refused =
          verify(tracked != candidates.end() ? (*tracked)->secrets : secrets, request_.body)) {
    return std::move(*refused);
  }
  if (d_.delivery_id.empty()) return error(400, Outcome::bad_request, "delivery id header missing");
  if (!is_delivery_id(d_.delivery_id)) {
    return error(400, Outcome::bad_request, "delivery id header is not printable ASCII");
  }

  const Repository& repository = tracked != candidates.end() ? **tracked : *candidates.front();
  Normalized normalized =
      tracked != candidates.end() || branch.empty()
          ? normalize(provider_, d_.event_type, scan, repository)
          : Normalized{Ignored{"branch " + branch + (scan.branch.truncated ? "\u2026" : "") +
                               " is not tracked"}};
  if (const auto* ignored = std::get_if<Ignored>(&normalized)) {
    d_.reason = ignored->reason;
    return reply(200, Outcome::ignored, ignored_body(ignored->reason));
  }
  if (const auto* malformed = std::get_if<Malformed>(&normalized)) {
    return error(400, Outcome::bad_request, malformed->reason);
  }
  Event event = std::get<Event>(std::move(normalized));
  event.delivery_id = d_.delivery_id;
  d_.action = Publish{std::move(event), provider_, d_.event_type};
  d_.outcome = Outcome::queued;
  return std::move(d_);
}

// Event names the hosts document, for metric labels. GitHub and Gitea/Forgejo share theirs.
constexpr std::array<std::string_view, 28> kGithubEvents{
    "push", "pull_request", "ping", "create", "delete", "release", "status",
    "issues", "issue_comment", "pull_request_review", "pull_request_review_comment",
    "pull_request_review_thread", "workflow_run", "workflow_job", "workflow_dispatch",
    "check_run", "check_suite", "deployment", "deployment_status", "repository", "fork",
    "star", "watch", "member", "meta", "wiki", "package", "merge_group"};
constexpr std::array<std::string_view, 16> kGitlabEvents{
    "Push Hook", "Tag Push Hook", "Merge Request Hook", "Issue Hook", "Confidential Issue Hook",
    "Note Hook", "Confidential Note Hook", "Pipeline Hook", "Job Hook", "Deployment Hook",
    "Release Hook", "Wiki Page Hook", "Feature Flag Hook", "Emoji Hook", "Member Hook",
    "Milestone Hook"};

}  // namespace

std::optional<Decision> decide_head(const WebhookRequest& request) {
  static const std::vector<Repository> kNone;
  return Decider(request, kNone).check_head();
}

std::span<const std::string_view> known_events(Provider provider) {
  if (provider == Provider::gitlab) return kGitlabEvents;
  return kGithubEvents;
}

std::string_view event_label(Provider provider, std::string_view event_type) {
  const auto known = known_events(provider);
  const auto it = std::find(known.begin(), known.end(), event_type);
  return it == known.end() ? std::string_view("other") : *it;
}

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::queued: return "queued";
    case Outcome::ignored: return "ignored";
    case Outcome::duplicate: return "duplicate";
    case Outcome::in_progress: return "in_progress";
    case Outcome::publish_failed: return "publish_failed";
    case Outcome::bad_request: return "bad_request";
    case Outcome::unauthorized: return "unauthorized";
    case Outcome::not_found: return "not_found";
    case Outcome::method_not_allowed: return "method_not_allowed";
    case Outcome::unsupported_media_type: return "unsupported_media_type";
    case Outcome::too_large: return "too_large";
    case Outcome::overloaded: return "overloaded";
  }
  return "unknown";
}

bool is_genuine(Outcome outcome) {
  return outcome == Outcome::queued || outcome == Outcome::ignored ||
         outcome == Outcome::duplicate;
}

Decision decide(const WebhookRequest& request, const std::vector<Repository>& repositories) {
  return Decider(request, repositories).run();
}

std::string error_body(std::string_view message) {
  return json::serialize(json::object{{"error", message}});
}

}  // namespace gitopsd::receiver
