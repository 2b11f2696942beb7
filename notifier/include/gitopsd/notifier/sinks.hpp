// Notifications to people (a Slack-compatible incoming webhook) and to systems (JSON signed
// per Standard Webhooks): what each carries, which sinks want it, and the request that
// delivers it.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "gitopsd/config.hpp"
#include "gitopsd/http_client.hpp"

namespace gitopsd::notifier {

// What happened to one target (a result) or to one event (a DLQ entry).
struct Notification {
  // Stable for the record and sink (the same after a redelivery), so a receiver can drop
  // duplicates: the webhook-id of a webhook sink.
  std::string id;
  std::string repository;
  std::string target;  // "" for a dead letter
  std::string commit;  // 40 hex; a dead letter's event's `after` ("" when refused unread)
  // A result status (applied, unchanged, superseded, failed, drift_corrected, drift_detected)
  // or "dead_lettered".
  std::string status;
  bool rollback = false;
  std::string event_id;
  std::string message;
  std::string output_tail;
  std::string link;  // NotifyConfig::target_url with its placeholders replaced; "" = none
  std::string at;    // RFC 3339, when it happened (the result's finished_at, the DLQ's failed_at)
};

// Whether `sink`'s `on` names the notification's status, or `rollback` for a rollback.
bool wants(const Sink& sink, const Notification& notification);

// The webhook sink's body: {"schema":"gitopsd.notification.v1", "id", "repository", "target",
// "commit", "status", "rollback", "event_id", "message", "output_tail", "link", "at"}.
std::string notification_json(const Notification& notification);

// Slack's incoming-webhook body: {"text": ...} with mrkdwn naming the repository, target, short
// commit, status, message and link (Slack's escaping of &, < and > applied to every value).
std::string slack_json(const Notification& notification);

// POST to sink.url: slack_json, or notification_json with webhook-id (notification.id),
// webhook-timestamp (`now`, Unix seconds) and webhook-signature under sink.secret.
HttpRequest sink_request(const Sink& sink, const Notification& notification,
                         std::chrono::system_clock::time_point now, Duration timeout);

}  // namespace gitopsd::notifier
