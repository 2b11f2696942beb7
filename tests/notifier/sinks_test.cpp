// Notifications without a network: which sinks want what, the webhook body against
// schemas/notification.v1.json, its Standard Webhooks signature checked by the receiver's own
// verifier, and Slack's message with Slack's escaping.
#include "gitopsd/notifier/sinks.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "gitopsd/crypto.hpp"
#include "gitopsd/receiver/signature.hpp"
#include "schema_validator.hpp"

namespace gitopsd::notifier {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kNotificationSchema = GITOPSD_SOURCE_DIR "/schemas/notification.v1.json";
const std::string kSigningKey = "whsec_" + base64_encode("gitopsd-notifier-test-key-32byte");

Notification failed() {
  Notification n;
  n.id = "3f7c2a9e-1b4d-4c8e-9a0f-5d6e7f8a9b0c";
  n.repository = "infra";
  n.target = "web";
  n.commit = "abc1234def5678901234567890abcdef12345678";
  n.status = "failed";
  n.event_id = "7d1e4c2a-0000-4000-8000-000000000001";
  n.message = "exit code 2";
  n.output_tail = "Error: x\n";
  n.link = "https://ci.example/infra/web?commit=abc1234&tab=log";
  n.at = "2026-12-03T16:00:00.000Z";
  return n;
}

Sink sink(SinkType type, std::vector<std::string> on) {
  Sink s;
  s.name = "audit";
  s.type = type;
  s.url = "https://hooks.example/T000/B000/secretpath";
  s.url_origin = "file /etc/gitopsd/secrets/url";
  if (type == SinkType::webhook) s.secret = Secret{kSigningKey, "file /etc/whsec"};
  s.on = std::move(on);
  s.ca_file = "/etc/ca.pem";
  return s;
}

std::string header(const HttpRequest& request, std::string_view name) {
  for (const auto& [n, v] : request.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

std::string slack_text(const Notification& n) {
  return std::string(json::parse(slack_json(n)).as_object().at("text").as_string());
}

TEST(NotifierSinkTest, OnNamesStatusesRollbackAndDeadLetters) {
  auto n = failed();
  EXPECT_TRUE(wants(sink(SinkType::slack, {"failed"}), n));
  EXPECT_FALSE(wants(sink(SinkType::slack, {"applied", "drift_detected"}), n));
  n.status = "applied";
  n.rollback = true;
  EXPECT_TRUE(wants(sink(SinkType::slack, {"rollback"}), n)) << "a rollback, whatever its status";
  EXPECT_TRUE(wants(sink(SinkType::slack, {"applied"}), n));
  n.rollback = false;
  EXPECT_FALSE(wants(sink(SinkType::slack, {"rollback"}), n));
  n.status = "dead_lettered";
  EXPECT_TRUE(wants(sink(SinkType::webhook, {"dead_lettered"}), n));
  EXPECT_FALSE(wants(sink(SinkType::webhook, {"failed"}), n));
}

TEST(NotifierSinkTest, WebhookBodyMatchesTheNotificationSchema) {
  EXPECT_TRUE(test::matches_schema(notification_json(failed()), kNotificationSchema));

  // A dead letter refused unread: no target, no commit.
  Notification dead = failed();
  dead.status = "dead_lettered";
  dead.target.clear();
  dead.commit.clear();
  dead.link.clear();
  EXPECT_TRUE(test::matches_schema(notification_json(dead), kNotificationSchema));

  // Output that is not UTF-8, with control characters: still valid JSON, still the schema.
  Notification junk = failed();
  junk.output_tail = "bin\xFF\xFE\x01\x1b[0m\n\xE2\x82";
  const std::string body = notification_json(junk);
  EXPECT_TRUE(test::matches_schema(body, kNotificationSchema)) << body;
  const auto parsed = json::parse(body).as_object();
  EXPECT_EQ(parsed.at("output_tail"), "bin\xEF\xBF\xBD\xEF\xBF\xBD\x01\x1b[0m\n\xEF\xBF\xBD\xEF\xBF\xBD");

  // And the checker can say no: a wrong status is refused.
  Notification wrong = failed();
  wrong.status = "exploded";
  EXPECT_FALSE(test::matches_schema(notification_json(wrong), kNotificationSchema));
}

TEST(NotifierSinkTest, WebhookCarriesEveryField) {
  const auto body = json::parse(notification_json(failed())).as_object();
  EXPECT_EQ(body.at("schema"), "gitopsd.notification.v1");
  EXPECT_EQ(body.at("id"), "3f7c2a9e-1b4d-4c8e-9a0f-5d6e7f8a9b0c");
  EXPECT_EQ(body.at("repository"), "infra");
  EXPECT_EQ(body.at("target"), "web");
  EXPECT_EQ(body.at("commit"), "abc1234def5678901234567890abcdef12345678");
  EXPECT_EQ(body.at("status"), "failed");
  EXPECT_EQ(body.at("rollback"), false);
  EXPECT_EQ(body.at("event_id"), "7d1e4c2a-0000-4000-8000-000000000001");
  EXPECT_EQ(body.at("message"), "exit code 2");
  EXPECT_EQ(body.at("output_tail"), "Error: x\n");
  EXPECT_EQ(body.at("link"), "https://ci.example/infra/web?commit=abc1234&tab=log");
  EXPECT_EQ(body.at("at"), "2026-12-03T16:00:00.000Z");
}

TEST(NotifierSinkTest, WebhookSignatureVerifiesWithTheReceiversOwnCheck) {
  const auto now = std::chrono::system_clock::now();
  const auto request = sink_request(sink(SinkType::webhook, {"failed"}), failed(), now, 3s);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, "https://hooks.example/T000/B000/secretpath");
  EXPECT_EQ(request.ca_file, "/etc/ca.pem");
  EXPECT_EQ(request.timeout, 3s);
  EXPECT_EQ(header(request, "Content-Type"), "application/json");
  EXPECT_EQ(header(request, "User-Agent"), "gitopsd-notifier");
  EXPECT_EQ(header(request, "webhook-id"), failed().id);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
  EXPECT_EQ(header(request, "webhook-timestamp"), std::to_string(seconds.count()));
  const std::vector<Secret> secrets = {Secret{kSigningKey, "test"}};
  EXPECT_TRUE(receiver::verify_standard_webhook(
      header(request, "webhook-id"), header(request, "webhook-timestamp"),
      header(request, "webhook-signature"), request.body, secrets, now));
  // The same check refuses a changed body, and another key.
  EXPECT_FALSE(receiver::verify_standard_webhook(
      header(request, "webhook-id"), header(request, "webhook-timestamp"),
      header(request, "webhook-signature"), request.body + " ", secrets, now));
  const std::vector<Secret> other = {Secret{"whsec_" + base64_encode("another-key-of-32-bytes-exactly!"), "t"}};
  EXPECT_FALSE(receiver::verify_standard_webhook(
      header(request, "webhook-id"), header(request, "webhook-timestamp"),
      header(request, "webhook-signature"), request.body, other, now));
}

TEST(NotifierSinkTest, WebhookIdIsTheSameOnRedelivery) {
  const auto s = sink(SinkType::webhook, {"failed"});
  const auto first = sink_request(s, failed(), std::chrono::system_clock::now(), 1s);
  const auto again = sink_request(s, failed(), std::chrono::system_clock::now() + 90s, 1s);
  EXPECT_EQ(header(first, "webhook-id"), header(again, "webhook-id"));
  EXPECT_EQ(first.body, again.body);
  EXPECT_NE(header(first, "webhook-timestamp"), header(again, "webhook-timestamp"));
}

TEST(NotifierSinkTest, SlackMessageIsReadable) {
  const auto request = sink_request(sink(SinkType::slack, {"failed"}), failed(),
                                    std::chrono::system_clock::now(), 1s);
  EXPECT_EQ(header(request, "Content-Type"), "application/json");
  EXPECT_EQ(header(request, "webhook-signature"), "<absent>");
  const auto body = json::parse(request.body).as_object();
  EXPECT_EQ(body.size(), 1u) << "Slack's incoming webhook: {\"text\": ...}";
  EXPECT_EQ(std::string(body.at("text").as_string()),
            ":x: *failed* infra/web at `abc1234`: exit code 2\n"
            "<https://ci.example/infra/web?commit=abc1234&amp;tab=log|details>\n"
            "```\nError: x\n```");
}

TEST(NotifierSinkTest, SlackEscapesItsControlCharactersInEveryValue) {
  Notification n = failed();
  n.repository = "a&b";
  n.target = "<web>";
  n.message = "<!channel> & <@U123> 1 > 0";
  n.output_tail = "x < y && z > w";
  n.link = "https://ci.example/?a=1&b=<2>|x";
  const std::string text = slack_text(n);
  EXPECT_EQ(text.find("<!channel>"), std::string::npos) << text;
  EXPECT_EQ(text.find("<@U123>"), std::string::npos) << text;
  EXPECT_NE(text.find("a&amp;b/&lt;web&gt;"), std::string::npos) << text;
  EXPECT_NE(text.find("&lt;!channel&gt; &amp; &lt;@U123&gt; 1 &gt; 0"), std::string::npos) << text;
  EXPECT_NE(text.find("x &lt; y &amp;&amp; z &gt; w"), std::string::npos) << text;
  EXPECT_NE(text.find("<https://ci.example/?a=1&amp;b=&lt;2&gt;%7Cx|details>"), std::string::npos)
      << text;
  // Every '<' left opens the one link, every '>' closes it.
  EXPECT_EQ(std::count(text.begin(), text.end(), '<'), 1);
  EXPECT_EQ(std::count(text.begin(), text.end(), '>'), 1);
}

TEST(NotifierSinkTest, SlackWithoutLinkOrTargetOrCommit) {
  Notification n = failed();
  n.status = "dead_lettered";
  n.target.clear();
  n.commit.clear();
  n.link.clear();
  n.output_tail.clear();
  n.message = "apply failed 8 times";
  EXPECT_EQ(slack_text(n), ":rotating_light: *dead lettered* infra: apply failed 8 times");

  n = failed();
  n.status = "applied";
  n.rollback = true;
  n.link.clear();
  n.output_tail.clear();
  n.message.clear();
  EXPECT_EQ(slack_text(n), ":white_check_mark: *applied* (rollback) infra/web at `abc1234`");
}

TEST(NotifierSinkTest, SlackBoundsTheOutputTail) {
  Notification n = failed();
  n.output_tail = "first line that goes\n" + std::string(10000, 'y') + "\nlast line";
  const std::string text = slack_text(n);
  EXPECT_LT(text.size(), 3000u);
  EXPECT_EQ(text.find("first line"), std::string::npos) << "the tail, not the head";
  EXPECT_NE(text.find("last line\n```"), std::string::npos);
}

}  // namespace
}  // namespace gitopsd::notifier
