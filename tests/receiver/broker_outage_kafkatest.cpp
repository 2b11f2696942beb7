// The receiver against a Kafka broker of its own that the test stops and restarts:
// no 202 without Kafka's acknowledgement, 503 within publish_timeout, recovery after.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "harness.hpp"
#include "payloads.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

namespace json = boost::json;
constexpr const char* kSecret = "outage-secret";
const std::string kBrokerScript = GITOPSD_SOURCE_DIR "/deploy/kafka/broker.sh";

class BrokerOutageTest : public ::testing::Test {
 protected:
  void broker(const std::string& verb) {
    std::vector<std::string> argv{kBrokerScript, verb, "--dir", dir_.path() + "/kafka"};
    // The same Kafka release as the suite's broker, so each suite proves outages on its version.
    if (verb == "start")
      argv.insert(argv.end(), {"--port", std::to_string(kafka_port_), "--version", kafka_version()});
    Process p(argv, dir_.path() + "/broker-script.log");
    ASSERT_EQ(p.wait(120s), std::optional<int>(0)) << p.log();
  }
  void TearDown() override { broker("stop"); }

  HttpResponse push(const std::string& delivery_id, const std::string& after) {
    auto d = github_delivery("push", github_push("acme/infra", "main", kShaA, after), kSecret,
                             delivery_id);
    std::map<std::string, std::string> headers(d.headers.begin(), d.headers.end());
    return http_request(setup_.port, "POST", d.path, headers, d.body);
  }
  bool ready() { return http_request(setup_.admin_port, "GET", "/readyz", {}, "").status == 200; }

  TempDir dir_;
  int kafka_port_ = free_port();
  ReceiverSetup setup_;
};

TEST_F(BrokerOutageTest, AnswersServiceUnavailableWhileDownAndQueuesAgainWhenBack) {
  broker("start");
  setup_ = fresh_receiver_setup("127.0.0.1:" + std::to_string(kafka_port_));
  setup_.extra_receiver_yaml = "  publish_timeout: 2s\n";
  dir_.write("secret", kSecret);
  setup_.repositories_yaml = github_infra_yaml(dir_.path() + "/secret");
  auto receiver = start_receiver(dir_, setup_);
  ASSERT_TRUE(wait_until([&] { return ready(); }, 10s));
  // A fresh broker creates the topic and the idempotent producer id on first use, which may
  // outlast publish_timeout: the host's retry then gets 202, or "duplicate" if the first
  // attempt was acknowledged late.
  HttpResponse first;
  ASSERT_TRUE(wait_until([&] { return (first = push("before-outage", kShaB)).status != 503; }, 30s, 200ms));
  ASSERT_TRUE(first.status == 202 || first.status == 200) << first.status << " " << receiver->log();

  broker("stop");
  auto started = std::chrono::steady_clock::now();
  auto during = push("during-outage", kShaC);
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(during.status, 503);
  EXPECT_FALSE(during.headers["retry-after"].empty());
  EXPECT_TRUE(json::parse(during.body).as_object().contains("error"));
  EXPECT_LT(elapsed, 5s);  // publish_timeout 2 s, plus slack
  EXPECT_TRUE(wait_until([&] { return !ready(); }, 10s));
  // The alert rule "not ready" reads the same answer as a gauge.
  EXPECT_NE(http_request(setup_.admin_port, "GET", "/metrics", {}, "").body.find("gitopsd_ready 0"),
            std::string::npos);

  broker("start");
  EXPECT_TRUE(wait_until([&] { return ready(); }, 30s));
  EXPECT_NE(http_request(setup_.admin_port, "GET", "/metrics", {}, "").body.find("gitopsd_ready 1"),
            std::string::npos);
  // The host retries the failed delivery: it was not remembered as done, so it is queued now.
  HttpResponse retried;
  EXPECT_TRUE(wait_until([&] { return (retried = push("during-outage", kShaC)).status == 202; }, 30s, 500ms))
      << retried.status << " " << retried.body;

  TopicReader reader(setup_.bootstrap, setup_.events_topic);
  auto records = reader.read(2, 30s);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(json::parse(records[0].value).at("delivery_id"), "before-outage");
  EXPECT_EQ(json::parse(records[1].value).at("delivery_id"), "during-outage");
  // Nothing else: the 503'd attempt was not half-published behind our back.
  EXPECT_EQ(reader.read_to_end().size(), 2u);
  receiver->signal(SIGTERM);
  EXPECT_EQ(receiver->wait(20s), std::optional<int>(0)) << receiver->log();
}

}  // namespace
}  // namespace gitopsd::test
