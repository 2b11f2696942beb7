// gitopsd-receiver end to end: the real binary, real HTTP, the real Kafka broker.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>

#include "harness.hpp"
#include "payloads.hpp"
#include "schema_validator.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

namespace json = boost::json;

constexpr const char* kGithubSecret = "gh-secret-for-tests";
constexpr const char* kGitlabToken = "gl-token-for-tests";
constexpr const char* kGitlabSigningKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* kGiteaSecret = "gitea-secret-for-tests";

std::string fresh_delivery_id() { return unique_name("delivery"); }

class ReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setup_ = fresh_receiver_setup(kafka_bootstrap());
    setup_.extra_receiver_yaml = "  publish_timeout: 10s\n  header_timeout: 2s\n";
    dir_.write("github.secret", std::string(kGithubSecret) + "\n");
    dir_.write("gitlab.token", kGitlabToken);
    dir_.write("gitlab.whsec", kGitlabSigningKey);
    dir_.write("gitea.secret", kGiteaSecret);
    setup_.repositories_yaml =
        github_infra_yaml(dir_.path() + "/github.secret") +
        "  - {name: platform, provider: gitlab, match: acme/platform, url: https://gitlab.example.com/acme/platform.git,\n"
        "     secrets: [{file: " + dir_.path() + "/gitlab.token}, {file: " + dir_.path() + "/gitlab.whsec}], targets: []}\n"
        "  - {name: edge, provider: gitea, match: acme/edge, url: https://gitea.example.com/acme/edge.git,\n"
        "     secrets: [{file: " + dir_.path() + "/gitea.secret}], targets: []}\n";
  }

  void start() {
    receiver_ = start_receiver(dir_, setup_);
    reader_ = std::make_unique<TopicReader>(setup_.bootstrap, setup_.events_topic);
  }

  HttpResponse send(const Delivery& d, const std::string& path = "") {
    std::map<std::string, std::string> headers(d.headers.begin(), d.headers.end());
    return http_request(setup_.port, "POST", path.empty() ? d.path : path, headers, d.body);
  }

  Delivery github_push_delivery(const std::string& after, const std::string& delivery_id) {
    return github_delivery("push", github_push("acme/infra", "main", kShaA, after), kGithubSecret,
                           delivery_id);
  }

  // Sends a genuine push and returns every event published up to and including it: any
  // event published by an earlier request is on the same partition, so it comes first.
  std::vector<KafkaRecord> events_through_sentinel() {
    auto sentinel = fresh_delivery_id();
    EXPECT_EQ(send(github_push_delivery(kShaC, sentinel)).status, 202);
    std::vector<KafkaRecord> records;
    wait_until(
        [&] {
          records = reader_->read(records.size() + 1, 1s);
          return !records.empty() && json::parse(records.back().value).at("delivery_id") == sentinel.c_str();
        },
        30s);
    return records;
  }

  void expect_nothing_published() {
    auto records = events_through_sentinel();
    ASSERT_EQ(records.size(), 1u) << records.front().value;
  }

  static json::object body_of(const HttpResponse& r) { return json::parse(r.body).as_object(); }

  TempDir dir_;
  ReceiverSetup setup_;
  std::unique_ptr<Process> receiver_;
  std::unique_ptr<TopicReader> reader_;
};

// ---- accepted events: 202 after Kafka's acknowledgement, exactly one message -----------------

void expect_one_event(TopicReader& reader, const std::string& key, const HttpResponse& response,
                      const std::function<void(const json::object&)>& check) {
  ASSERT_EQ(response.status, 202) << response.body;
  auto answer = json::parse(response.body).as_object();
  EXPECT_EQ(answer.at("status"), "queued");
  auto records = reader.read(1, 30s);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, key);
  EXPECT_TRUE(matches_schema(records[0].value));
  auto event = json::parse(records[0].value).as_object();
  EXPECT_EQ(event.at("event_id"), answer.at("event_id"));
  EXPECT_EQ(event.at("repository"), key.c_str());
  check(event);
}

TEST_F(ReceiverTest, GithubPushIsPublishedOnceWithItsFields) {
  start();
  auto delivery_id = fresh_delivery_id();
  auto response = send(github_push_delivery(kShaB, delivery_id));
  expect_one_event(*reader_, "infra", response, [&](const json::object& e) {
    EXPECT_EQ(e.at("provider"), "github");
    EXPECT_EQ(e.at("kind"), "push");
    EXPECT_EQ(e.at("delivery_id"), delivery_id.c_str());
    EXPECT_EQ(e.at("full_name"), "acme/infra");
    EXPECT_EQ(e.at("branch"), "main");
    EXPECT_EQ(e.at("before"), kShaA.c_str());
    EXPECT_EQ(e.at("after"), kShaB.c_str());
    EXPECT_EQ(e.at("sender"), "octocat");
    EXPECT_TRUE(e.at("merge_request").is_null());
  });
  EXPECT_EQ(events_through_sentinel().size(), 2u);  // nothing published twice
}

TEST_F(ReceiverTest, GithubMergedPullRequestIsPublishedAsMerge) {
  start();
  auto response = send(github_delivery(
      "pull_request", github_pull_request_merged("acme/infra", "main", kShaA, kShaB), kGithubSecret,
      fresh_delivery_id()));
  expect_one_event(*reader_, "infra", response, [](const json::object& e) {
    EXPECT_EQ(e.at("kind"), "merge");
    EXPECT_EQ(e.at("after"), kShaB.c_str());
    EXPECT_EQ(e.at("merge_request").at("number"), 42);
  });
}

TEST_F(ReceiverTest, GithubFormEncodedPushIsPublished) {
  start();
  auto response = send(github_form_delivery(
      "push", github_push("acme/infra", "main", kShaA, kShaB), kGithubSecret, fresh_delivery_id()));
  expect_one_event(*reader_, "infra", response,
                   [](const json::object& e) { EXPECT_EQ(e.at("after"), kShaB.c_str()); });
}

TEST_F(ReceiverTest, GitlabPushWithTokenIsPublished) {
  start();
  auto response = send(gitlab_delivery("Push Hook", gitlab_push("acme/platform", "main", kShaA, kShaB),
                                       kGitlabToken, fresh_delivery_id()));
  expect_one_event(*reader_, "platform", response, [](const json::object& e) {
    EXPECT_EQ(e.at("provider"), "gitlab");
    EXPECT_EQ(e.at("kind"), "push");
    EXPECT_EQ(e.at("after"), kShaB.c_str());
  });
}

TEST_F(ReceiverTest, GitlabSignedMergeRequestIsPublishedAsMerge) {
  start();
  auto id = fresh_delivery_id();
  auto response = send(gitlab_signed_delivery(
      "Merge Request Hook", gitlab_merge_request("acme/platform", "main", kShaB), kGitlabSigningKey,
      id, std::chrono::system_clock::now()));
  expect_one_event(*reader_, "platform", response, [&](const json::object& e) {
    EXPECT_EQ(e.at("kind"), "merge");
    EXPECT_EQ(e.at("after"), kShaB.c_str());
    EXPECT_EQ(e.at("delivery_id"), id.c_str());
    EXPECT_EQ(e.at("merge_request").at("number"), 7);
  });
}

TEST_F(ReceiverTest, GiteaPushIsPublished) {
  start();
  auto response = send(gitea_delivery("push", gitea_push("acme/edge", "main", kShaA, kShaB),
                                      kGiteaSecret, fresh_delivery_id()));
  expect_one_event(*reader_, "edge", response, [](const json::object& e) {
    EXPECT_EQ(e.at("provider"), "gitea");
    EXPECT_EQ(e.at("after"), kShaB.c_str());
  });
}

TEST_F(ReceiverTest, GiteaMergedPullRequestIsPublishedAsMerge) {
  start();
  auto response = send(gitea_delivery(
      "pull_request", gitea_pull_request("acme/edge", "main", kShaA, kShaB), kGiteaSecret,
      fresh_delivery_id()));
  expect_one_event(*reader_, "edge", response, [](const json::object& e) {
    EXPECT_EQ(e.at("kind"), "merge");
    EXPECT_EQ(e.at("after"), kShaB.c_str());
  });
}

TEST_F(ReceiverTest, GenericEndpointTellsGiteaFromItsHeaders) {
  start();
  // Gitea also sends X-GitHub-Event; its own header must win.
  auto response = send(gitea_delivery("push", gitea_push("acme/edge", "main", kShaA, kShaB),
                                      kGiteaSecret, fresh_delivery_id()),
                       "/hooks");
  expect_one_event(*reader_, "edge", response,
                   [](const json::object& e) { EXPECT_EQ(e.at("provider"), "gitea"); });
}

// ---- the answer table, row by row ----------------------------------------------------------

TEST_F(ReceiverTest, RedeliveryIsAnsweredDuplicateAndPublishedOnce) {
  start();
  auto id = fresh_delivery_id();
  auto first = send(github_push_delivery(kShaB, id));
  ASSERT_EQ(first.status, 202);
  auto second = send(github_push_delivery(kShaB, id));
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(body_of(second).at("status"), "duplicate");
  EXPECT_EQ(body_of(second).at("event_id"), body_of(first).at("event_id"));
  EXPECT_EQ(events_through_sentinel().size(), 2u);
}

TEST_F(ReceiverTest, PushToAnotherBranchIsIgnored) {
  start();
  auto r = send(github_delivery("push", github_push("acme/infra", "feature/x", kShaA, kShaB),
                                kGithubSecret, fresh_delivery_id()));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r).at("status"), "ignored");
  EXPECT_FALSE(body_of(r).at("reason").as_string().empty());
  expect_nothing_published();
}

TEST_F(ReceiverTest, PingIsIgnored) {
  start();
  auto r = send(github_delivery("ping", github_ping("acme/infra"), kGithubSecret, fresh_delivery_id()));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r).at("status"), "ignored");
  expect_nothing_published();
}

TEST_F(ReceiverTest, BodyThatIsNotJsonIs400) {
  start();
  auto r = send(github_delivery("push", "{\"ref\": ", kGithubSecret, fresh_delivery_id()));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(body_of(r).contains("error"));
  expect_nothing_published();
}

TEST_F(ReceiverTest, PushMissingRequiredFieldsIs400) {
  start();
  auto r = send(github_delivery(
      "push", R"({"ref":"refs/heads/main","repository":{"full_name":"acme/infra"}})", kGithubSecret,
      fresh_delivery_id()));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(body_of(r).contains("error"));
  expect_nothing_published();
}

TEST_F(ReceiverTest, WrongSignatureIs401AndEchoesNoSecret) {
  start();
  auto d = github_push_delivery(kShaB, fresh_delivery_id());
  for (auto& [name, value] : d.headers)
    if (name == "X-Hub-Signature-256") value = github_signature("not-the-secret", d.body);
  auto r = send(d);
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(body_of(r).contains("error"));
  EXPECT_EQ(r.body.find(kGithubSecret), std::string::npos);
  EXPECT_EQ(r.body.find("sha256="), std::string::npos);
  EXPECT_EQ(receiver_->log().find(kGithubSecret), std::string::npos);
  // The operator's log says why (README, troubleshooting), without the signature itself.
  EXPECT_TRUE(wait_until([&] {
    return receiver_->log().find("status=401 outcome=unauthorized reason=\"signature does not match\"") !=
           std::string::npos;
  }, 5s)) << receiver_->log();
  EXPECT_EQ(receiver_->log().find(github_signature("not-the-secret", d.body)), std::string::npos);
  expect_nothing_published();
}

TEST_F(ReceiverTest, MissingSignatureIs401) {
  start();
  auto d = github_push_delivery(kShaB, fresh_delivery_id());
  std::erase_if(d.headers, [](const auto& h) { return h.first == "X-Hub-Signature-256"; });
  EXPECT_EQ(send(d).status, 401);
  expect_nothing_published();
}

TEST_F(ReceiverTest, UnconfiguredRepositoryIs401) {
  start();
  auto r = send(github_delivery("push", github_push("acme/unknown", "main", kShaA, kShaB),
                                kGithubSecret, fresh_delivery_id()));
  EXPECT_EQ(r.status, 401);
  expect_nothing_published();
}

TEST_F(ReceiverTest, WrongMethodIs405) {
  start();
  auto r = http_request(setup_.port, "GET", "/hooks/github", {}, "");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "POST");
  EXPECT_TRUE(body_of(r).contains("error"));
}

TEST_F(ReceiverTest, UnsupportedContentTypeIs415) {
  start();
  auto d = github_push_delivery(kShaB, fresh_delivery_id());
  d.headers[0].second = "text/plain";
  auto r = send(d);
  EXPECT_EQ(r.status, 415);
  EXPECT_TRUE(body_of(r).contains("error"));
  expect_nothing_published();
}

// Streams `total` bytes of body after the head without waiting for the answer; returns what
// the server answered (it may close before the body is all sent).
std::string post_streaming_body(int port, const std::string& head, std::size_t total) {
  int fd = connect_loopback(port);
  if (fd < 0) return "connect failed";
  ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  std::string chunk(64 * 1024, 'x');
  for (std::size_t sent = 0; sent < total; sent += chunk.size())
    if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) break;
  return read_until_closed(fd);
}

TEST_F(ReceiverTest, ThirtyMegabyteBodyIs413WithoutBufferingIt) {
  start();
  long peak_before = receiver_->peak_rss_kib();
  constexpr std::size_t kThirtyMb = 30u * 1024 * 1024;
  auto with_length = post_streaming_body(
      setup_.port,
      "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "X-GitHub-Event: push\r\nContent-Length: " + std::to_string(kThirtyMb) + "\r\n\r\n",
      kThirtyMb);
  EXPECT_EQ(with_length.rfind("HTTP/1.1 413", 0), 0u) << with_length.substr(0, 200);
  // Refused from its Content-Length, before any of the body is buffered: the peak RSS
  // (VmHWM, so memory freed again still counts) must not have grown anywhere near 30 MB.
  long peak_growth_kib = receiver_->peak_rss_kib() - peak_before;
  EXPECT_LT(peak_growth_kib, 8 * 1024) << "peak rss grew by " << peak_growth_kib << " KiB";
  // Chunked: no length up front, so the limit holds while reading (up to max_body_bytes).
  auto chunked_head =
      "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "X-GitHub-Event: push\r\nTransfer-Encoding: chunked\r\n\r\n";
  int fd = connect_loopback(setup_.port);
  ASSERT_GE(fd, 0);
  ::send(fd, chunked_head, std::strlen(chunked_head), MSG_NOSIGNAL);
  std::string chunk = "10000\r\n" + std::string(0x10000, 'y') + "\r\n";
  for (std::size_t sent = 0; sent < kThirtyMb; sent += 0x10000)
    if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) break;
  std::string answer = read_until_closed(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
  EXPECT_TRUE(receiver_->running());
}

TEST_F(ReceiverTest, ClientSendingItsHeadSlowlyIsCutOff) {
  start();  // header_timeout: 2s
  int fd = connect_loopback(setup_.port);
  ASSERT_GE(fd, 0);
  std::string head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(200, 'p');
  auto started = std::chrono::steady_clock::now();
  bool cut_off = false;
  // One byte every 50 ms: the whole head would take more than 10 s.
  for (char c : head) {
    if (::send(fd, &c, 1, MSG_NOSIGNAL) < 0) {
      cut_off = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char b;
      if (::recv(fd, &b, 1, 0) <= 0) {
        cut_off = true;
        break;
      }
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - started;
  ::close(fd);
  EXPECT_TRUE(cut_off);
  EXPECT_LT(elapsed, 6s);
  EXPECT_TRUE(receiver_->running());
}

TEST_F(ReceiverTest, MetricsCountWebhooksByProviderEventAndOutcome) {
  start();
  ASSERT_EQ(send(github_push_delivery(kShaB, fresh_delivery_id())).status, 202);
  auto d = github_push_delivery(kShaB, fresh_delivery_id());
  d.headers.back().second = github_signature("wrong", d.body);
  ASSERT_EQ(send(d).status, 401);
  auto metrics = http_request(setup_.admin_port, "GET", "/metrics", {}, "");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("gitopsd_webhooks_total{provider=\"github\",event=\"push\",outcome=\"queued\"} 1\n"),
            std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("gitopsd_webhooks_total{provider=\"github\",event=\"\",outcome=\"unauthorized\"} 1\n"),
            std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("gitopsd_webhook_request_duration_seconds_count"), std::string::npos);
  EXPECT_NE(metrics.body.find("gitopsd_kafka_produce_duration_seconds_count"), std::string::npos);
  EXPECT_TRUE(wait_until([&] { return http_request(setup_.admin_port, "GET", "/readyz", {}, "").status == 200; }, 10s));
}

TEST_F(ReceiverTest, SigtermExitsZeroAfterAnsweringAndStopsListening) {
  start();
  ASSERT_EQ(send(github_push_delivery(kShaB, fresh_delivery_id())).status, 202);
  receiver_->signal(SIGTERM);
  EXPECT_EQ(receiver_->wait(15s), std::optional<int>(0)) << receiver_->log();
  EXPECT_THROW(http_request(setup_.port, "GET", "/hooks", {}, "", 2s), std::exception);
}

TEST_F(ReceiverTest, ServesHttpsWhenTlsIsConfigured) {
  Process openssl({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                   "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                   "-keyout", dir_.path() + "/tls.key", "-out", dir_.path() + "/tls.crt"},
                  dir_.path() + "/openssl.log");
  ASSERT_EQ(openssl.wait(30s), std::optional<int>(0)) << openssl.log();
  setup_.extra_receiver_yaml += "  tls: {cert_file: " + dir_.path() + "/tls.crt, key_file: " +
                                dir_.path() + "/tls.key}\n";
  start();
  auto d = github_push_delivery(kShaB, fresh_delivery_id());
  std::map<std::string, std::string> headers(d.headers.begin(), d.headers.end());
  auto response = https_request(setup_.port, dir_.path() + "/tls.crt", "POST", d.path, headers, d.body);
  expect_one_event(*reader_, "infra", response,
                   [](const json::object& e) { EXPECT_EQ(e.at("after"), kShaB.c_str()); });
  // Plain HTTP on the TLS port gets no answer.
  EXPECT_THROW(http_request(setup_.port, "POST", d.path, headers, d.body, 5s), std::exception);

  // gitopsctl verifies the receiver's certificate: refused while it is not trusted, sent once
  // SSL_CERT_FILE says to trust it.
  auto body = dir_.write("push.json", github_push("acme/infra", "main", kShaA, kShaB));
  const std::vector<std::string> send{GITOPSCTL_BIN, "sign", "--secret-file", dir_.path() + "/github.secret",
                                      "--provider", "github", "--send",
                                      "https://localhost:" + std::to_string(setup_.port) + "/hooks/github", body};
  Process untrusted(send, dir_.path() + "/ctl-untrusted.log");
  EXPECT_NE(untrusted.wait(30s), std::optional<int>(0)) << untrusted.log();
  EXPECT_NE(untrusted.log().find("certificate verify failed"), std::string::npos) << untrusted.log();
  Process trusted(send, dir_.path() + "/ctl-trusted.log", {{"SSL_CERT_FILE", dir_.path() + "/tls.crt"}});
  EXPECT_EQ(trusted.wait(30s), std::optional<int>(0)) << trusted.log();
  EXPECT_EQ(trusted.log().rfind("202 ", 0), 0u) << trusted.log();
}

TEST_F(ReceiverTest, CheckConfigValidatesAndExitsWithoutServing) {
  auto path = dir_.write("good.yaml", receiver_config_yaml(setup_));
  Process p({GITOPSD_RECEIVER_BIN, "--config", path, "--check-config"}, dir_.path() + "/check.log");
  EXPECT_EQ(p.wait(10s), std::optional<int>(0)) << p.log();
  EXPECT_THROW(http_request(setup_.port, "GET", "/hooks", {}, "", 2s), std::exception);
}

TEST_F(ReceiverTest, BadConfigIsRefusedWithExitCode2) {
  auto path = dir_.write("bad.yaml", "receiver:\n  listen: \"127.0.0.1:1\"\n  bogus: 1\n");
  Process p({GITOPSD_RECEIVER_BIN, "--config", path}, dir_.path() + "/bad.log");
  EXPECT_EQ(p.wait(10s), std::optional<int>(2));
  EXPECT_NE(p.log().find(path + ":3:3:"), std::string::npos) << p.log();
}

}  // namespace
}  // namespace gitopsd::test
