#include "gitopsd/notifier/sinks.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "gitopsd/crypto.hpp"
#include "gitopsd/notifier/delivery.hpp"
#include "text.hpp"

namespace gitopsd::notifier {

namespace json = boost::json;

namespace {

// What a chat message shows of the text that came with the result: a person reads the gist,
// the webhook sink carries it all.
constexpr std::size_t kSlackMessageChars = 1000;
constexpr std::size_t kSlackOutputTailBytes = 2000;

// Slack reads &, < and > as its own markup (links, mentions); everything else is literal.
// api.slack.com/reference/surfaces/formatting#escaping
std::string slack_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string_view slack_emoji(std::string_view status) {
  if (status == "applied" || status == "unchanged") return ":white_check_mark:";
  if (status == "superseded") return ":fast_forward:";
  if (status == "drift_corrected") return ":wrench:";
  if (status == "drift_detected") return ":warning:";
  if (status == "dead_lettered") return ":rotating_light:";
  return ":x:";  // failed
}

}  // namespace

bool wants(const Sink& sink, const Notification& notification) {
  const auto names = [&](std::string_view what) {
    return std::find(sink.on.begin(), sink.on.end(), what) != sink.on.end();
  };
  return names(notification.status) || (notification.rollback && names("rollback"));
}

std::string notification_json(const Notification& n) {
  // Bytes that are not UTF-8 (a command's output cut anywhere) would make the body invalid
  // JSON; control characters are fine, the writer escapes them.
  const auto text = [](std::string_view s) { return clean_utf8(s, Controls::keep); };
  return json::serialize(json::object{{"schema", "gitopsd.notification.v1"},
                                      {"id", text(n.id)},
                                      {"repository", text(n.repository)},
                                      {"target", text(n.target)},
                                      {"commit", text(n.commit)},
                                      {"status", text(n.status)},
                                      {"rollback", n.rollback},
                                      {"event_id", text(n.event_id)},
                                      {"message", text(n.message)},
                                      {"output_tail", text(n.output_tail)},
                                      {"link", text(n.link)},
                                      {"at", text(n.at)}});
}

std::string slack_json(const Notification& n) {
  const auto line = [](std::string_view s, std::size_t max_chars = 200) {
    return slack_escape(clean_utf8(s, Controls::to_space, max_chars));
  };
  // ":x: *failed* infra/web at `abc1234`: message"
  std::string status(n.status);
  std::replace(status.begin(), status.end(), '_', ' ');
  std::string text = std::string(slack_emoji(n.status)) + " *" + line(status) + "*";
  if (n.rollback) text += " (rollback)";
  text += " " + line(n.repository);
  if (!n.target.empty()) text += "/" + line(n.target);
  if (!n.commit.empty()) text += " at `" + line(n.commit.substr(0, 7)) + "`";
  if (!n.message.empty()) text += ": " + line(n.message, kSlackMessageChars);
  if (!n.link.empty()) {
    // Inside <url|text> a '|' would end the URL: it is percent-encoded, as in any URL.
    std::string url = clean_utf8(n.link, Controls::to_space, 2000);
    for (std::size_t at = url.find('|'); at != std::string::npos; at = url.find('|', at)) {
      url.replace(at, 1, "%7C");
    }
    text += "\n<" + slack_escape(url) + "|details>";
  }
  std::string_view tail = utf8_tail(n.output_tail, kSlackOutputTailBytes);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.remove_suffix(1);
  if (!tail.empty()) {
    text += "\n```\n" + slack_escape(clean_utf8(tail, Controls::to_space_but_lines)) + "\n```";
  }
  return json::serialize(json::object{{"text", text}});
}

HttpRequest sink_request(const Sink& sink, const Notification& notification,
                         std::chrono::system_clock::time_point now, Duration timeout) {
  HttpRequest request;
  request.method = "POST";
  request.url = sink.url;
  request.timeout = timeout;
  request.ca_file = sink.ca_file;
  request.headers = {{"Content-Type", "application/json"},
                     {"User-Agent", std::string(kUserAgent)}};
  if (sink.type == SinkType::slack) {
    request.body = slack_json(notification);
    return request;
  }
  request.body = notification_json(notification);
  // Standard Webhooks: the id stays the same across redeliveries (the receiver drops
  // duplicates by it); the timestamp is this try's, for the receiver's replay window.
  const std::string timestamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  request.headers.emplace_back("webhook-id", notification.id);
  request.headers.emplace_back("webhook-timestamp", timestamp);
  // The config refuses a webhook sink without a valid signing key; were it missing anyway, the
  // request goes unsigned and the receiver's refusal (a 401, given up) says so.
  if (sink.secret) {
    if (auto signature = standard_webhook_signature(sink.secret->value, notification.id,
                                                    timestamp, request.body)) {
      request.headers.emplace_back("webhook-signature", *signature);
    }
  }
  return request;
}

}  // namespace gitopsd::notifier
