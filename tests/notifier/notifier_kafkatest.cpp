// gitopsd-notifier, the real binary, on the real broker: records produced on the events,
// results and DLQ topics become commit statuses on a Git host's API (a local server that
// follows GitHub's documentation: status_api_server.hpp; the real Gitea is in
// gitea_pipeline_kafkatest.cpp) and signed notifications to local sinks, under rate limits,
// outages, a bad token and a SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "gitopsd/crypto.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/receiver/signature.hpp"
#include "gitopsd/records.hpp"
#include "harness.hpp"
#include "loopback_http_server.hpp"
#include "notify_socket.hpp"
#include "status_api_server.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* kToken = "ghp_notifier-test-token-0123456789";
constexpr const char* kMatch = "acme/infra";

std::string sha_of(int n) {
  std::string hex = to_hex(hmac_sha256("commit", std::to_string(n)));
  return hex.substr(0, 40);
}

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bootstrap_ = kafka_bootstrap();
    for (auto* topic : {&events_, &results_, &dlq_, &statuses_}) {
      *topic = unique_name("notify");
      create_topic(bootstrap_, *topic, 1);
    }
    dir_.write("token", std::string(kToken) + "\n");
    dir_.write("secret", "notifier-webhook-secret-0123456789");
    signing_key_ = "whsec_" + base64_encode("a 32-byte signing key for tests!");
    dir_.write("whsec", signing_key_);
    admin_port_ = free_port();
  }

  std::string config_yaml() const {
    std::string y = "kafka:\n  brokers: \"" + bootstrap_ + "\"\n  topics: {events: " + events_ +
                    ", results: " + results_ + ", dlq: " + dlq_ + ", statuses: " + statuses_ +
                    "}\n  properties: {session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\"}\n" +
                    "notify:\n  group_id: " + group_ + "\n  admin_listen: \"127.0.0.1:" +
                    std::to_string(admin_port_) + "\"\n  max_attempts: " +
                    std::to_string(max_attempts_) + "\n  max_backoff: 2s\n  request_timeout: 2s\n" +
                    "  target_url: \"https://ci.example.com/{repository}/{target}/{commit}\"\n" +
                    "  sinks:\n" +
                    "    - {name: audit, type: webhook, url: \"" + webhook_.url("/audit") +
                    "\", secret: {file: " + dir_.path() + "/whsec}, on: [applied, failed, "
                    "drift_detected, rollback, dead_lettered]}\n" +
                    "    - {name: chat, type: slack, url: \"" + slack_.url("/services/T0/B0/x") +
                    "\", on: [failed, dead_lettered]}\n" +
                    "repositories:\n  - name: infra\n    provider: github\n    match: " + kMatch +
                    "\n    url: https://github.com/acme/infra.git\n    secrets: [{file: " +
                    dir_.path() + "/secret}]\n    api: {url: \"" + api_.api_url() +
                    "\", token_file: " + dir_.path() + "/token, ca_file: " + api_.ca_file() +
                    "}\n    targets:\n" +
                    "      - {name: web, path: web, apply: {type: files, dest: " + dir_.path() +
                    "/web}}\n" +
                    "      - {name: cluster, path: k8s, apply: {type: exec, command: [\"true\"]}}\n";
    return y;
  }

  void start(const std::map<std::string, std::string>& env = {}) {
    if (config_path_.empty()) config_path_ = dir_.write("gitopsd.yaml", config_yaml());
    notifier_ = std::make_unique<Process>(
        std::vector<std::string>{GITOPSD_NOTIFIER_BIN, "--config", config_path_},
        dir_.path() + "/notifier-" + std::to_string(++starts_) + ".log", env);
    ASSERT_TRUE(wait_until(
        [&] {
          try {
            return http_request(admin_port_, "GET", "/readyz", {}, "", 1s).status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        60s, 100ms))
        << notifier_->log();
  }

  std::string metrics() { return http_request(admin_port_, "GET", "/metrics", {}, "").body; }

  Event event(const std::string& sha) const {
    Event e;
    e.event_id = random_uuid();
    e.provider = EventProvider::github;
    e.delivery_id = random_uuid();
    e.received_at = format_timestamp(std::chrono::system_clock::now());
    e.repository = "infra";
    e.full_name = kMatch;
    e.clone_url = "https://github.com/acme/infra.git";
    e.branch = "main";
    e.kind = EventKind::push;
    e.before = std::string(40, '0');
    e.after = sha;
    e.sender = "octocat";
    return e;
  }

  Result result(const Event& e, const std::string& target, ResultStatus status,
                const std::string& message = "") const {
    const auto now = format_timestamp(std::chrono::system_clock::now());
    return Result{.event_id = e.event_id, .repository = "infra", .target = target,
                  .commit = e.after, .status = status, .rollback = false, .attempt = 1,
                  .worker = "test:1", .started_at = now, .finished_at = now, .duration_ms = 5,
                  .message = message, .output_tail = ""};
  }

  void publish(const Event& e) { produce_record(bootstrap_, events_, e.repository, to_json(e)); }
  void publish(const Result& r) {
    produce_record(bootstrap_, results_, target_key(r.repository, r.target), to_json(r));
  }

  std::optional<StatusApiServer::Status> latest(const std::string& sha, const std::string& target) {
    return api_.latest(kMatch, sha, "gitopsd/" + target);
  }
  bool wait_state(const std::string& sha, const std::string& target, const std::string& state,
                  std::chrono::milliseconds timeout = 30s) {
    return wait_until(
        [&] {
          auto s = latest(sha, target);
          return s && s->state == state;
        },
        timeout, 50ms);
  }

  // The statuses the API answered to each POST for `sha`, in order.
  std::vector<int> answers_to(const std::string& sha) {
    std::vector<int> answers;
    for (const auto& request : api_.http().requests()) {
      if (request.method == "POST" && request.target.find(sha) != std::string::npos) {
        answers.push_back(request.answered);
      }
    }
    return answers;
  }

  static std::size_t occurrences(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  std::string bootstrap_, events_, results_, dlq_, statuses_;
  std::string group_ = unique_name("notifiers");
  TempDir dir_;
  StatusApiServer api_{Provider::github, kToken};
  LoopbackHttpServer webhook_{/*tls=*/false};
  LoopbackHttpServer slack_{/*tls=*/false};
  std::string signing_key_;
  int admin_port_ = 0;
  unsigned max_attempts_ = 4;
  std::string config_path_;
  int starts_ = 0;
  std::unique_ptr<Process> notifier_;
};

TEST_F(NotifierTest, PendingOnTheEventThenEachTargetsResultAndSignedNotifications) {
  start();
  const std::string sha = sha_of(1);
  api_.add_commit(kMatch, sha);
  const Event e = event(sha);
  publish(e);
  ASSERT_TRUE(wait_state(sha, "web", "pending")) << notifier_->log();
  ASSERT_TRUE(wait_state(sha, "cluster", "pending")) << notifier_->log();
  publish(result(e, "web", ResultStatus::applied));
  publish(result(e, "cluster", ResultStatus::failed, "kubectl: exit code 1"));
  ASSERT_TRUE(wait_state(sha, "web", "success")) << notifier_->log();
  ASSERT_TRUE(wait_state(sha, "cluster", "failure")) << notifier_->log();
  EXPECT_EQ(latest(sha, "cluster")->target_url, "https://ci.example.com/infra/cluster/" + sha);
  EXPECT_NE(latest(sha, "cluster")->description.find("kubectl: exit code 1"), std::string::npos);

  // Two webhook notifications (applied, failed), each verified as a gitopsd receiver would.
  ASSERT_TRUE(webhook_.wait_for_requests(2, 30s)) << notifier_->log();
  std::set<std::string> statuses;
  for (const auto& request : webhook_.requests()) {
    EXPECT_TRUE(receiver::verify_standard_webhook(
        request.header("webhook-id"), request.header("webhook-timestamp"),
        request.header("webhook-signature"), request.body, {Secret{signing_key_, "test"}},
        std::chrono::system_clock::now()))
        << request.body;
    auto body = json::parse(request.body).as_object();
    EXPECT_EQ(body.at("repository"), "infra");
    EXPECT_EQ(body.at("commit"), sha.c_str());
    statuses.insert(std::string(body.at("status").as_string()));
  }
  EXPECT_EQ(statuses, (std::set<std::string>{"applied", "failed"}));
  // Slack's `on` names only failed.
  ASSERT_TRUE(slack_.wait_for_requests(1, 30s));
  const auto slack = json::parse(slack_.requests().front().body).as_object();
  const std::string text(slack.at("text").as_string());
  EXPECT_NE(text.find("infra"), std::string::npos) << text;
  EXPECT_NE(text.find("cluster"), std::string::npos) << text;
  EXPECT_NE(text.find(sha.substr(0, 7)), std::string::npos) << text;

  // Each final status is on the statuses topic, set.
  TopicReader reader(bootstrap_, statuses_);
  ASSERT_TRUE(wait_until(
      [&] {
        std::map<std::string, CommitStatusRecord> last;
        for (const auto& r : reader.read(100, 200ms)) {
          auto parsed = parse_commit_status(r.value);
          if (auto* c = std::get_if<CommitStatusRecord>(&parsed)) last[r.key] = *c;
        }
        return last.size() == 2 && last["infra/web"].state == CommitState::success &&
               last["infra/web"].set && last["infra/cluster"].state == CommitState::failure &&
               last["infra/cluster"].set;
      },
      30s, 200ms));
  // The token was sent, and never logged.
  EXPECT_EQ(api_.http().requests().front().header("authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(notifier_->log().find(kToken), std::string::npos);
}

TEST_F(NotifierTest, AResultConsumedBeforeItsEventIsNeverFollowedByPending) {
  start();
  const std::string sha = sha_of(2);
  api_.add_commit(kMatch, sha);
  const Event e = event(sha);
  publish(result(e, "web", ResultStatus::applied));
  ASSERT_TRUE(wait_state(sha, "web", "success")) << notifier_->log();
  publish(e);  // late: the cluster target gets its pending, web keeps success
  ASSERT_TRUE(wait_state(sha, "cluster", "pending")) << notifier_->log();
  EXPECT_EQ(latest(sha, "web")->state, "success");
  EXPECT_EQ(api_.statuses(kMatch, sha).size(), 2u);
}

TEST_F(NotifierTest, RateLimitedAnswersAreWaitedOutThenTheStatusIsSet) {
  start();
  const std::string sha = sha_of(3);
  api_.add_commit(kMatch, sha);
  api_.http().force(StatusApiServer::too_many_requests("1"), 2);
  const auto sent = std::chrono::steady_clock::now();
  publish(result(event(sha), "web", ResultStatus::applied));
  ASSERT_TRUE(wait_state(sha, "web", "success")) << notifier_->log();
  // Two Retry-After: 1 waits (the backoff never undercuts the host's word).
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 2s);
  EXPECT_EQ(api_.http().request_count(), 3u);
  EXPECT_EQ(metric_value(metrics(), "gitopsd_notifier_retries_total{kind=\"status\"}"), 2);
}

TEST_F(NotifierTest, ABadTokenIsSaidOnceCountedAndNeverRetried) {
  api_.set_token("a-token-the-notifier-does-not-have");
  start();
  std::vector<std::string> shas;
  for (int i = 10; i < 13; ++i) {
    shas.push_back(sha_of(i));
    api_.add_commit(kMatch, shas.back());
    publish(result(event(shas.back()), "web", ResultStatus::applied));
  }
  ASSERT_TRUE(wait_until(
      [&] {
        return metric_value(metrics(), "gitopsd_notifier_statuses_total{provider=\"github\","
                                       "state=\"success\",outcome=\"dropped\"}") == 3;
      },
      30s, 100ms))
      << notifier_->log();
  std::this_thread::sleep_for(3s);  // past the backoff: a retry would have come by now
  EXPECT_EQ(api_.http().request_count(), 3u) << "one try each: a 401 is not retried";
  const std::string log = notifier_->log();
  std::size_t said = 0;
  for (auto at = log.find("commit status not set"); at != std::string::npos;
       at = log.find("commit status not set", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << log;
  EXPECT_NE(log.find("401"), std::string::npos) << log;
  EXPECT_EQ(log.find(kToken), std::string::npos);
  // The statuses topic says it was not set, and why.
  TopicReader reader(bootstrap_, statuses_);
  auto records = reader.read(3, 30s);
  ASSERT_EQ(records.size(), 3u);
  auto last = std::get<CommitStatusRecord>(parse_commit_status(records.back().value));
  EXPECT_FALSE(last.set);
  EXPECT_NE(last.error.find("401"), std::string::npos) << last.error;
}

TEST_F(NotifierTest, AnApiThatIsDownHoldsUpNeitherTheSinksNorItsOwnStatusForGood) {
  start();
  const std::string sha = sha_of(4);
  api_.add_commit(kMatch, sha);
  api_.http().set_down(true);
  const Event e = event(sha);
  publish(result(e, "web", ResultStatus::failed, "disk full"));
  // The sinks hear of it while the API is down.
  ASSERT_TRUE(webhook_.wait_for_requests(1, 30s)) << notifier_->log();
  ASSERT_TRUE(slack_.wait_for_requests(1, 30s)) << notifier_->log();
  std::this_thread::sleep_for(2s);
  EXPECT_FALSE(latest(sha, "web"));
  api_.http().set_down(false);
  ASSERT_TRUE(wait_state(sha, "web", "failure")) << notifier_->log();
}

// A sink that stays down is tried max_attempts times with backoff, then dropped: logged,
// counted, the record committed. The other sink is served meanwhile.
TEST_F(NotifierTest, ASinkThatStaysDownIsDroppedAfterItsTriesAndHoldsUpNoOther) {
  webhook_.set_down(true);
  start();
  publish(result(event(sha_of(6)), "web", ResultStatus::failed, "exit code 3"));
  ASSERT_TRUE(slack_.wait_for_requests(1, 30s)) << notifier_->log();
  ASSERT_TRUE(wait_until(
      [&] {
        return metric_value(metrics(), "gitopsd_notifier_notifications_total{sink=\"audit\","
                                       "outcome=\"dropped\"}") == 1;
      },
      60s, 100ms))
      << notifier_->log();
  EXPECT_EQ(metric_value(metrics(), "gitopsd_notifier_retries_total{kind=\"notification\"}"),
            max_attempts_ - 1);
  EXPECT_NE(notifier_->log().find("notification dropped sink=audit"), std::string::npos);
  EXPECT_TRUE(wait_until(
      [&] { return metric_value(metrics(), "gitopsd_notifier_records_in_flight") == 0; }, 10s, 100ms));
}

// A host that answers 5xx every time is tried max_attempts times and no more: the status is
// counted and logged once as dropped (the token nowhere in the log), its record is committed,
// and the next status goes through once the host answers again.
TEST_F(NotifierTest, AStatusTheHostKeepsFailingIsDroppedAfterItsTriesAndTheNextIsSet) {
  max_attempts_ = 3;
  start();
  const std::string failing = sha_of(40), next = sha_of(41), after_restart = sha_of(42);
  for (const auto& sha : {failing, next, after_restart}) api_.add_commit(kMatch, sha);
  for (const int status : {500, 502, 503}) {
    api_.http().force(CannedAnswer{.status = status, .headers = {}, .body = "upstream trouble",
                                   .drop = false, .delay = {}});
  }
  publish(result(event(failing), "web", ResultStatus::applied));
  const std::string dropped =
      "gitopsd_notifier_statuses_total{provider=\"github\",state=\"success\",outcome=\"dropped\"}";
  ASSERT_TRUE(wait_until([&] { return metric_value(metrics(), dropped) == 1; }, 30s, 100ms))
      << notifier_->log();
  EXPECT_EQ(answers_to(failing), (std::vector<int>{500, 502, 503}));
  EXPECT_EQ(metric_value(metrics(), "gitopsd_notifier_retries_total{kind=\"status\"}"), 2);

  publish(result(event(next), "web", ResultStatus::applied));
  ASSERT_TRUE(wait_state(next, "web", "success")) << notifier_->log();
  EXPECT_FALSE(latest(failing, "web"));
  EXPECT_EQ(answers_to(failing).size(), 3u) << "not tried again";
  EXPECT_EQ(metric_value(metrics(), dropped), 1);
  const std::string log = notifier_->log();
  EXPECT_EQ(occurrences(log, "commit status not set"), 1u) << log;
  EXPECT_NE(log.find("attempts=3 answer=HTTP 503"), std::string::npos) << log;
  EXPECT_EQ(log.find(kToken), std::string::npos);

  // Both records were committed: a notifier restarted in the group does not try `failing`
  // again before the record that follows them.
  ASSERT_TRUE(wait_until(
      [&] { return metric_value(metrics(), "gitopsd_notifier_records_in_flight") == 0; }, 10s,
      100ms));
  notifier_->terminate();
  start();
  publish(result(event(after_restart), "web", ResultStatus::applied));
  ASSERT_TRUE(wait_state(after_restart, "web", "success")) << notifier_->log();
  EXPECT_EQ(answers_to(failing).size(), 3u) << notifier_->log();
  EXPECT_EQ(notifier_->log().find(kToken), std::string::npos);
}

// Statuses go out per repository: while one repository's host is down (its port closed) and
// its status is retried, another repository on another host gets its status at once.
TEST_F(NotifierTest, AHostThatIsDownHoldsUpNoOtherRepositorysStatuses) {
  max_attempts_ = 30;  // not given up during the test: tried every 2 s at most (max_backoff)
  StatusApiServer other{Provider::github, kToken};
  config_path_ = dir_.write(
      "gitopsd.yaml",
      config_yaml() + "  - name: apps\n    provider: github\n    match: acme/apps\n" +
          "    url: https://github.com/acme/apps.git\n    secrets: [{file: " + dir_.path() +
          "/secret}]\n    api: {url: \"" + other.api_url() + "\", token_file: " + dir_.path() +
          "/token, ca_file: " + other.ca_file() + "}\n    targets:\n" +
          "      - {name: web, path: web, apply: {type: files, dest: " + dir_.path() +
          "/apps-web}}\n");
  start();
  const std::string down = sha_of(50), up = sha_of(51);
  api_.add_commit(kMatch, down);
  other.add_commit("acme/apps", up);
  api_.http().set_down(true);
  publish(result(event(down), "web", ResultStatus::applied));
  ASSERT_TRUE(wait_until(
      [&] { return metric_value(metrics(), "gitopsd_notifier_records_in_flight") == 1; }, 30s,
      50ms))
      << notifier_->log();

  Result apps = result(event(up), "web", ResultStatus::applied);
  apps.repository = "apps";
  const auto sent = std::chrono::steady_clock::now();
  publish(apps);
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = other.latest("acme/apps", up, "gitopsd/web");
        return s && s->state == "success";
      },
      5s, 50ms))
      << notifier_->log();
  std::cout << "[ figures ] other repository's status set in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - sent)
                   .count()
            << " ms while the first host is down\n";
  // The first is still under way: neither set nor given up, its record the one left open.
  EXPECT_FALSE(latest(down, "web"));
  EXPECT_TRUE(wait_until(
      [&] { return metric_value(metrics(), "gitopsd_notifier_records_in_flight") == 1; }, 10s,
      50ms));
  EXPECT_LE(metric_value(metrics(), "gitopsd_notifier_statuses_total{provider=\"github\","
                                    "state=\"success\",outcome=\"dropped\"}"),
            0);

  api_.http().set_down(false);
  ASSERT_TRUE(wait_state(down, "web", "success")) << notifier_->log();
  EXPECT_GE(metric_value(metrics(), "gitopsd_notifier_retries_total{kind=\"status\"}"), 1);
}

// What an operator's probes and Prometheus see on the admin port: alive but not ready while
// Kafka cannot be reached, ready once in the group, and the notifier's own series.
TEST_F(NotifierTest, TheAdminPortAnswersHealthReadinessAndTheNotifiersMetrics) {
  const auto status_of = [&](const char* path) {
    try {
      return http_request(admin_port_, "GET", path, {}, "", 2s).status;
    } catch (const std::exception&) {
      return 0;
    }
  };
  {
    const std::string bootstrap = bootstrap_;
    bootstrap_ = "127.0.0.1:" + std::to_string(free_port());  // nothing listens there
    const std::string cut_off_config = dir_.write("cut-off.yaml", config_yaml());
    bootstrap_ = bootstrap;
    Process cut_off({GITOPSD_NOTIFIER_BIN, "--config", cut_off_config},
                    dir_.path() + "/cut-off.log");
    ASSERT_TRUE(wait_until([&] { return status_of("/healthz") == 200; }, 30s, 100ms))
        << cut_off.log();
    EXPECT_EQ(status_of("/readyz"), 503) << cut_off.log();
    EXPECT_EQ(metric_value(metrics(), "gitopsd_ready"), 0);
  }

  start();
  const std::string sha = sha_of(60);
  api_.add_commit(kMatch, sha);
  publish(result(event(sha), "web", ResultStatus::applied));
  ASSERT_TRUE(wait_state(sha, "web", "success")) << notifier_->log();
  const auto health = http_request(admin_port_, "GET", "/healthz", {}, "");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(status_of("/readyz"), 200);
  const auto page = http_request(admin_port_, "GET", "/metrics", {}, "");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metric_value(page.body, "gitopsd_ready"), 1) << page.body;
  EXPECT_EQ(metric_value(page.body, "gitopsd_notifier_records_total{topic=\"" + results_ +
                                        "\",outcome=\"read\"}"),
            1)
      << page.body;
  EXPECT_EQ(metric_value(page.body, "gitopsd_notifier_statuses_total{provider=\"github\","
                                    "state=\"success\",outcome=\"set\"}"),
            1)
      << page.body;
  EXPECT_EQ(metric_value(page.body, "gitopsd_notifier_status_latency_seconds_count"), 1)
      << page.body;
  EXPECT_TRUE(wait_until(
      [&] {
        const std::string now = metrics();
        return metric_value(now, "gitopsd_notifier_notifications_total{sink=\"audit\","
                                 "outcome=\"sent\"}") == 1 &&
               metric_value(now, "gitopsd_notifier_records_in_flight") == 0;
      },
      10s, 100ms))
      << metrics();
}

TEST_F(NotifierTest, ADeadLetterReachesTheSinksThatWantIt) {
  start();
  const Event e = event(sha_of(5));
  const DeadLetter d{.event = e, .raw = "", .error = "apply failed 5 times: exit code 2",
                     .attempts = 5, .worker = "test:1",
                     .failed_at = format_timestamp(std::chrono::system_clock::now())};
  produce_record(bootstrap_, dlq_, "infra", to_json(d));
  ASSERT_TRUE(webhook_.wait_for_requests(1, 30s)) << notifier_->log();
  auto body = json::parse(webhook_.requests().front().body).as_object();
  EXPECT_EQ(body.at("status"), "dead_lettered");
  EXPECT_EQ(body.at("event_id"), e.event_id.c_str());
  EXPECT_EQ(body.at("message"), "apply failed 5 times: exit code 2");
  ASSERT_TRUE(slack_.wait_for_requests(1, 30s));
}

// Killed while deliveries are under way, the notifier loses none: what was not finished is
// redone after the restart (the offsets were not stored past it), and what is sent twice is
// counted here, where a host would see it.
TEST_F(NotifierTest, KilledMidBatchLosesNoStatus) {
  start();
  constexpr int kChanges = 40;
  std::vector<std::string> shas;
  for (int i = 0; i < kChanges; ++i) {
    shas.push_back(sha_of(100 + i));
    api_.add_commit(kMatch, shas.back());
  }
  // The first status meets three slow 503s (fewer than max_attempts: it is set on its fourth
  // try), so the kill finds most deliveries still queued behind it and some under way.
  api_.http().force(CannedAnswer{.status = 503, .headers = {}, .body = "busy", .drop = false,
                                 .delay = 300ms},
                    3);
  for (const auto& sha : shas) publish(result(event(sha), "web", ResultStatus::applied));
  ASSERT_TRUE(wait_until([&] { return api_.http().request_count() >= 8; }, 30s, 5ms))
      << notifier_->log();
  notifier_->signal(SIGKILL);
  notifier_->wait(10s);
  start();
  for (const auto& sha : shas) {
    ASSERT_TRUE(wait_state(sha, "web", "success", 60s)) << sha << "\n" << notifier_->log();
  }
  std::map<std::string, int> sets;
  for (const auto& request : api_.http().requests()) {
    if (request.answered == 201) ++sets[request.target];
  }
  int duplicates = 0;
  for (const auto& [target, n] : sets) duplicates += n - 1;
  EXPECT_EQ(sets.size(), static_cast<std::size_t>(kChanges));
  std::cout << "[ figures ] killed mid-batch: " << kChanges << " statuses, all set; "
            << duplicates << " set twice (at-least-once)\n";
}

// Under systemd (Type=notify, WatchdogSec): READY=1 once in the group, WATCHDOG=1 from the
// poll loop, STOPPING=1 and exit 0 on SIGTERM.
TEST_F(NotifierTest, ReadyInTheGroupPingsTheWatchdogAndStopsCleanly) {
  NotifySocket notify(dir_.path() + "/notify");
  start({{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "1000000"}});
  auto ready = notify.receive_skipping_pings(60s);
  ASSERT_TRUE(ready) << notifier_->log();
  EXPECT_EQ(ready->text, "READY=1");
  EXPECT_EQ(group_assignments(bootstrap_, group_), std::vector<int>{3}) << "events, results, dlq";
  std::vector<NotifySocket::Clock::time_point> pings;
  const auto start_at = NotifySocket::Clock::now();
  while (NotifySocket::Clock::now() - start_at < 3s) {
    if (auto m = notify.receive(100ms); m && m->text == "WATCHDOG=1") pings.push_back(m->at);
  }
  ASSERT_GE(pings.size(), 3u) << "about two a second";
  for (std::size_t i = 1; i < pings.size(); ++i) EXPECT_LT(pings[i] - pings[i - 1], 1s);
  notifier_->signal(SIGTERM);
  auto stopping = notify.receive_skipping_pings(10s);
  ASSERT_TRUE(stopping) << notifier_->log();
  EXPECT_EQ(stopping->text, "STOPPING=1");
  EXPECT_EQ(notifier_->wait(30s), 0) << notifier_->log();
}

// A token rotated in its file takes effect on SIGHUP, without a restart.
TEST_F(NotifierTest, ARotatedTokenTakesEffectOnReload) {
  dir_.write("token", "the-revoked-token-0123456789\n");
  start();
  const std::string before = sha_of(20), after = sha_of(21);
  api_.add_commit(kMatch, before);
  api_.add_commit(kMatch, after);
  publish(result(event(before), "web", ResultStatus::applied));
  ASSERT_TRUE(wait_until([&] { return api_.http().request_count() == 1; }, 30s, 50ms));
  EXPECT_EQ(api_.http().requests().front().answered, 401);
  dir_.write("token", std::string(kToken) + "\n");
  notifier_->signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return notifier_->log().find("config reloaded") != std::string::npos; },
                         30s, 50ms))
      << notifier_->log();
  publish(result(event(after), "web", ResultStatus::applied));
  ASSERT_TRUE(wait_state(after, "web", "success")) << notifier_->log();
}

}  // namespace
}  // namespace gitopsd::test
