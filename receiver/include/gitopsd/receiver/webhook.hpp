// The receiver's protocol logic as a pure function (no I/O): from an HTTP request's
// method, target, headers and raw body to either an answer or an event to publish.
// Verification, provider detection and normalization live behind this one entry point.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "gitopsd/config.hpp"
#include "gitopsd/event.hpp"

namespace gitopsd::receiver {

struct WebhookRequest {
  std::string_view method;  // "POST", ...
  std::string_view target;  // request target, e.g. "/hooks/github?x=y"
  // Case-insensitive header lookup; empty when absent.
  std::function<std::string_view(std::string_view name)> header;
  std::string_view body;  // raw bytes exactly as received
  std::chrono::system_clock::time_point now;  // for GitLab signed-webhook timestamps
};

// A final answer: HTTP status and a JSON body (`{"error":...}` or `{"status":"ignored",...}`).
struct Reply {
  int status = 200;
  std::string body;
  std::string allow;  // value of the Allow header for 405, else empty
};

// A genuine event to publish. `event.event_id` and `event.received_at` are left empty:
// the caller assigns them once the delivery id has passed deduplication.
struct Publish {
  Event event;
  Provider provider;
  std::string event_type;  // the host's event header value, for logs and metrics
};

// What became of a request: the `outcome` label of gitopsd_webhooks_total and the log's
// `outcome=` (outcome_name gives the word).
enum class Outcome {
  queued,                  // 202: published and acknowledged
  ignored,                 // 200: genuine, not ours to apply
  duplicate,               // 200: delivery id seen already
  in_progress,             // 503: the same delivery is being published
  publish_failed,          // 503: Kafka did not acknowledge in time
  bad_request,             // 400
  unauthorized,            // 401
  not_found,               // 404
  method_not_allowed,      // 405
  unsupported_media_type,  // 415
  too_large,               // 413
  overloaded,              // 503: too many request bodies in progress
};
inline constexpr std::size_t kOutcomeCount = static_cast<std::size_t>(Outcome::overloaded) + 1;
std::string_view outcome_name(Outcome outcome);
// Whether the request proved genuine (its signature verified): only then does the event
// header become a metric label.
bool is_genuine(Outcome outcome);

struct Decision {
  std::variant<Reply, Publish> action;
  // Known as far as the request got; for logs and metrics (never secrets). event_type,
  // delivery_id and reason carry the caller's bytes: log them through log_quote (log.hpp).
  std::optional<Provider> provider;  // nullopt: not detected
  std::string event_type;            // host's event header, e.g. "push"
  std::string delivery_id;
  std::string repository;  // configured name, once found
  Outcome outcome = Outcome::bad_request;
  std::string reason;  // why it was refused or ignored, as in the answer; for the log
};

// Decides what to do with one request. `repositories` is the loaded configuration;
// the function keeps no state and may run concurrently on any thread. Before the signature
// has verified it keeps nothing proportional to the body: one streaming scan
// (payload_scan.hpp) finds the repository and keeps the capped fields normalize() reads.
Decision decide(const WebhookRequest& request, const std::vector<Repository>& repositories);

// The checks decide() makes from the request head alone (path, method, provider, event
// header, content type; `request.body` is not looked at), so a server can refuse before
// reading any body. nullopt: the head is acceptable and decide() goes on with the body.
// Otherwise the refusal decide() would give for any body (its action is a Reply).
std::optional<Decision> decide_head(const WebhookRequest& request);

// The event names `provider` documents (GitHub and Gitea/Forgejo share theirs).
std::span<const std::string_view> known_events(Provider provider);

// The `event` label of gitopsd_webhooks_total: `event_type` when it is one of the
// known_events of `provider`, else "other". Header values are free text, so the label set
// stays fixed whatever a caller sends.
std::string_view event_label(Provider provider, std::string_view event_type);

// JSON error body {"error": message}.
std::string error_body(std::string_view message);

}  // namespace gitopsd::receiver
