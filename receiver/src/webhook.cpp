#include "gitopsd/receiver/webhook.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <optional>

#include "gitopsd/receiver/normalize.hpp"
#include "gitopsd/receiver/signature.hpp"

namespace gitopsd::receiver {
namespace json = boost::json;

namespace {

// Deeper bodies are refused: no host payload nests this far, and parsing stays bounded.
constexpr std::size_t kMaxJsonDepth = 64;

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

// application/x-www-form-urlencoded decoding: '+' is a space, %XX a byte.
std::optional<std::string> form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] != '%') {
      out.push_back(s[i]);
    } else {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
}

// The `payload` field of a GitHub form-encoded delivery.
std::optional<std::string> form_payload(std::string_view body) {
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == "payload") {
      return form_decode(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

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

  Decision run();

 private:
  std::string_view header(std::string_view name) const {
    return request_.header ? request_.header(name) : std::string_view();
  }
  Decision reply(int status, std::string_view outcome, std::string body) {
    d_.action = Reply{status, std::move(body), {}};
    d_.outcome = outcome;
    return std::move(d_);
  }
  Decision error(int status, std::string_view outcome, std::string_view message) {
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
    // Idempotency-Key and webhook-id stay the same across GitLab's retries.
    case Provider::gitlab:
      return first_of({"Idempotency-Key", "webhook-id", "X-Gitlab-Event-UUID"});
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
          return error(401, "unauthorized", "webhook-id or webhook-timestamp header missing");
        }
        if (!standard_webhook_timestamp_fresh(timestamp, request_.now)) {
          return error(401, "unauthorized", "webhook timestamp outside tolerance");
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
  if (signature.empty()) return error(401, "unauthorized", "signature missing");
  if (!genuine) return error(401, "unauthorized", "signature does not match");
  return std::nullopt;
}

Decision Decider::run() {
  const std::string_view path = request_.target.substr(0, request_.target.find('?'));
  if (path != "/hooks" && path != "/hooks/github" && path != "/hooks/gitlab" &&
      path != "/hooks/gitea") {
    return error(404, "not_found", "no such endpoint");
  }
  if (request_.method != "POST") {
    Decision d = error(405, "method_not_allowed", "method not allowed; use POST");
    std::get<Reply>(d.action).allow = "POST";
    return d;
  }

  const auto provider = detect_provider(path);
  if (!provider) {
    return error(400, "bad_request", "no X-Gitea-Event, X-Gitlab-Event or X-GitHub-Event header");
  }
  provider_ = *provider;
  d_.provider = provider_name(provider_);
  d_.event_type = event_header();
  d_.delivery_id = delivery_header();
  if (d_.event_type.empty()) {
    return error(400, "bad_request", event_header_name() + " header missing");
  }

  const std::string_view content_type = header("Content-Type");
  const std::string_view media_type = trim(content_type.substr(0, content_type.find(';')));
  std::string form_json;  // the decoded `payload` field of a form delivery
  std::string_view json_text = request_.body;
  if (provider_ == Provider::github && iequals(media_type, "application/x-www-form-urlencoded")) {
    auto payload = form_payload(request_.body);
    if (!payload) return error(400, "bad_request", "form body has no valid payload field");
    form_json = std::move(*payload);
    json_text = form_json;
  } else if (!iequals(media_type, "application/json")) {
    return error(415, "unsupported_media_type",
                 provider_ == Provider::github
                     ? "content type must be application/json or application/x-www-form-urlencoded"
                     : "content type must be application/json");
  }

  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  // The parsed payload lives only for this call: one arena (a stack block first) instead
  // of a heap allocation per JSON node, the receiver's largest per-request cost otherwise.
  unsigned char arena[16 * 1024];
  json::monotonic_resource resource(arena, sizeof arena);
  const json::value payload = json::parse(json_text, ec, &resource, options);
  if (ec) return error(400, "bad_request", "body is not valid JSON");
  if (!payload.is_object()) return error(400, "bad_request", "body is not a JSON object");

  const std::string name = payload_repository(provider_, payload);
  if (name.empty()) return error(400, "bad_request", "payload names no repository");
  // Host names are case-insensitive on GitHub, GitLab and Gitea alike.
  std::vector<const Repository*> candidates;
  for (const Repository& r : repositories_) {
    if (r.provider == provider_ && iequals(r.match, name)) candidates.push_back(&r);
  }
  if (candidates.empty()) return error(401, "unauthorized", "repository not configured");

  const std::string branch = payload_branch(provider_, d_.event_type, payload);
  const auto tracked = std::find_if(candidates.begin(), candidates.end(),
                                    [&](const Repository* r) { return r->branch == branch; });
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
  if (auto refused = verify(tracked != candidates.end() ? (*tracked)->secrets : secrets, request_.body))
    return std::move(*refused);
  if (d_.delivery_id.empty()) return error(400, "bad_request", "delivery id header missing");
  if (!is_delivery_id(d_.delivery_id)) {
    return error(400, "bad_request", "delivery id header is not printable ASCII");
  }

  const Repository& repository = tracked != candidates.end() ? **tracked : *candidates.front();
  Normalized normalized = tracked != candidates.end() || branch.empty()
                              ? normalize(provider_, d_.event_type, payload, repository)
                              : Normalized{Ignored{"branch " + branch + " is not tracked"}};
  if (const auto* ignored = std::get_if<Ignored>(&normalized)) {
    d_.reason = ignored->reason;
    return reply(200, "ignored", ignored_body(ignored->reason));
  }
  if (const auto* malformed = std::get_if<Malformed>(&normalized)) {
    return error(400, "bad_request", malformed->reason);
  }
  Event event = std::get<Event>(std::move(normalized));
  event.delivery_id = d_.delivery_id;
  d_.action = Publish{std::move(event), provider_, d_.event_type};
  d_.outcome = "queued";
  return std::move(d_);
}

}  // namespace

Decision decide(const WebhookRequest& request, const std::vector<Repository>& repositories) {
  return Decider(request, repositories).run();
}

std::string error_body(std::string_view message) {
  return json::serialize(json::object{{"error", message}});
}

}  // namespace gitopsd::receiver
