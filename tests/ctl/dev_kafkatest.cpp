// `gitopsctl dev` as a newcomer runs it: the shipped deploy/examples/dev.yaml (its paths and
// ports moved into a temp dir), the real binary with its embedded broker, a push to a local
// bare repository, and the signed webhook sent with `gitopsctl sign --send`. Needs no outside
// broker; lives with the integration tests because it runs real processes end to end.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "git_servers.hpp"
#include "gitopsd/receiver/signature.hpp"
#include "harness.hpp"
#include "loopback_http_server.hpp"
#include "payloads.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Replaces every `from` in `text`; a `from` that is absent fails the test (the example changed).
void replace_all(std::string& text, const std::string& from, const std::string& to) {
  std::size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << "'" << from << "' not in deploy/examples/dev.yaml";
  for (; at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

int status_of(int port, const std::string& target) {
  try {
    return http_request(port, "GET", target, {}, "", 2s).status;
  } catch (const std::exception&) {
    return 0;  // not listening yet
  }
}

class GitopsctlDevTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.write("site/index.html", "<h1>v1</h1>\n");
    first_ = repo_.commit("first");
    repo_.push();
    secret_ = dir_.write("secret", "dev-secret\n");
    dest_ = dir_.path() + "/site";
  }

  // The example config with this test's repository, directory and free ports.
  std::string config(const std::string& resync_interval) {
    std::string yaml = read_file(GITOPSD_SOURCE_DIR "/deploy/examples/dev.yaml");
    replace_all(yaml, "/tmp/gitopsd-dev/demo.git", repo_.served_path());
    replace_all(yaml, "/tmp/gitopsd-dev", dir_.path());
    replace_all(yaml, "127.0.0.1:8080", "127.0.0.1:" + std::to_string(port_));
    replace_all(yaml, "127.0.0.1:9464", "127.0.0.1:" + std::to_string(receiver_admin_port_));
    replace_all(yaml, "127.0.0.1:9465", "127.0.0.1:" + std::to_string(worker_admin_port_));
    replace_all(yaml, "127.0.0.1:9466", "127.0.0.1:" + std::to_string(notifier_admin_port_));
    replace_all(yaml, "resync_interval: 30s", "resync_interval: " + resync_interval);
    return dir_.write("dev.yaml", yaml);
  }

  std::unique_ptr<Process> start_dev(const std::string& resync_interval,
                                     const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{GITOPSCTL_BIN, "dev", "--config", config(resync_interval)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto dev = std::make_unique<Process>(argv, dir_.path() + "/dev.log");
    EXPECT_TRUE(wait_until(
        [&] {
          // Ready, and the next steps printed to their last line: dev prints them once it sees
          // all three ready, up to 50 ms after their /readyz turns 200.
          return status_of(receiver_admin_port_, "/readyz") == 200 &&
                 status_of(worker_admin_port_, "/readyz") == 200 &&
                 status_of(notifier_admin_port_, "/readyz") == 200 &&
                 dev->log().find("  Every result: kcat") != std::string::npos;
        },
        60s, 100ms))
        << dev->log();
    return dev;
  }

  std::string push(const std::string& content) {
    repo_.write("site/index.html", content);
    auto commit = repo_.commit("change");
    repo_.push();
    return commit;
  }

  TempDir dir_;
  GitRepoFixture repo_{"demo"};
  std::string first_;
  std::string secret_;
  std::string dest_;
  int port_ = free_port();
  int receiver_admin_port_ = free_port();
  int worker_admin_port_ = free_port();
  int notifier_admin_port_ = free_port();
};

TEST_F(GitopsctlDevTest, AppliesAPushWhoseSignedWebhookWasSent) {
  auto dev = start_dev("7d");  // no resync during the test: the webhook does it
  auto after = push("<h1>v2</h1>\n");
  auto body = dir_.write("push.json", github_push("acme/demo", "main", first_, after));

  Process sent({GITOPSCTL_BIN, "sign", "--secret-file", secret_, "--provider", "github", "--send",
                "http://127.0.0.1:" + std::to_string(port_) + "/hooks/github", body},
               dir_.path() + "/sign.log");
  ASSERT_EQ(sent.wait(30s), std::optional<int>(0)) << sent.log();
  EXPECT_EQ(sent.log().rfind("202 ", 0), 0u) << sent.log();

  EXPECT_TRUE(wait_until([&] { return read_file(dest_ + "/index.html") == "<h1>v2</h1>\n"; }, 60s))
      << dev->log();
  auto metrics = http_request(receiver_admin_port_, "GET", "/metrics", {}, "").body;
  EXPECT_NE(
      metrics.find(
          "gitopsd_webhooks_total{provider=\"github\",event=\"push\",outcome=\"queued\"} 1\n"),
      std::string::npos)
      << metrics;
  // What to do next names this config's secret, receiver and destination.
  auto printed = dev->log();
  EXPECT_NE(printed.find("sign --secret-file " + secret_ +
                         " --provider github --send http://127.0.0.1:" + std::to_string(port_) +
                         "/hooks/github"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find(dest_), std::string::npos) << printed;

  dev->signal(SIGTERM);
  EXPECT_EQ(dev->wait(60s), std::optional<int>(0)) << dev->log();
}

// `--notify-url`: every outcome is posted there, signed with the key printed at start.
TEST_F(GitopsctlDevTest, NotifyUrlGetsEachOutcomeSignedWithThePrintedKey) {
  LoopbackHttpServer sink(/*tls=*/false);
  auto dev = start_dev("7d", {"--notify-url", sink.url("/gitopsd")});
  const std::string printed = dev->log();
  const auto key_at = printed.find("signing key whsec_");
  ASSERT_NE(key_at, std::string::npos) << printed;
  const std::string key = printed.substr(key_at + 12, printed.find(')', key_at) - key_at - 12);
  auto after = push("<h1>v3</h1>\n");
  auto body = dir_.write("push.json", github_push("acme/demo", "main", first_, after));
  Process sent({GITOPSCTL_BIN, "sign", "--secret-file", secret_, "--provider", "github", "--send",
                "http://127.0.0.1:" + std::to_string(port_) + "/hooks/github", body},
               dir_.path() + "/sign.log");
  ASSERT_EQ(sent.wait(30s), std::optional<int>(0)) << sent.log();
  ASSERT_TRUE(sink.wait_for_requests(1, 60s)) << dev->log();
  const auto request = sink.requests().front();
  EXPECT_TRUE(receiver::verify_standard_webhook(
      request.header("webhook-id"), request.header("webhook-timestamp"),
      request.header("webhook-signature"), request.body, {Secret{key, "printed"}},
      std::chrono::system_clock::now()))
      << key << "\n" << request.body;
  EXPECT_NE(request.body.find("\"status\":\"applied\""), std::string::npos) << request.body;
  EXPECT_NE(request.body.find(after), std::string::npos) << request.body;
  dev->signal(SIGTERM);
  EXPECT_EQ(dev->wait(60s), std::optional<int>(0)) << dev->log();
}

// The commands printed under "Try it", run as a newcomer pastes them into a shell: a clone of
// the repository gets a commit that is pushed, its webhook is sent, and the change lands.
TEST_F(GitopsctlDevTest, PrintedStepsGetAChangeApplied) {
  auto dev = start_dev("7d");
  ASSERT_TRUE(
      wait_until([&] { return dev->log().find("  3. See it applied:") != std::string::npos; }, 30s))
      << dev->log();
  const std::string printed = dev->log();
  const auto begin = printed.find("Try it:\n");
  ASSERT_NE(begin, std::string::npos) << printed;
  std::istringstream steps(printed.substr(begin, printed.find("  3. See it applied:") - begin));
  // The clone the steps make commits as whoever runs them; here, as the test.
  std::string script =
      "set -e\nexport GIT_AUTHOR_NAME=dev GIT_AUTHOR_EMAIL=dev@gitopsd.invalid "
      "GIT_COMMITTER_NAME=dev GIT_COMMITTER_EMAIL=dev@gitopsd.invalid\n";
  for (std::string line; std::getline(steps, line);)
    if (line.starts_with("       ")) script += line.substr(7) + "\n";
  auto result = run_command({find_program("bash"), dir_.write("steps.sh", script)});
  ASSERT_EQ(result.exit_code, 0) << script << result.output;
  EXPECT_NE(result.output.find("202 "), std::string::npos) << script << result.output;

  // Files are replaced one by one (each atomically), so wait for both.
  EXPECT_TRUE(wait_until(
      [&] {
        return read_file(dest_ + "/hello-gitopsd.txt").starts_with("changed at ") &&
               read_file(dest_ + "/index.html") == "<h1>v1</h1>\n";
      },
      60s))
      << dev->log();
  dev->signal(SIGTERM);
  EXPECT_EQ(dev->wait(60s), std::optional<int>(0)) << dev->log();
}

TEST_F(GitopsctlDevTest, AppliesAPushWithoutWebhookAtTheNextResync) {
  auto dev = start_dev("2s");
  push("<h1>no webhook</h1>\n");
  EXPECT_TRUE(
      wait_until([&] { return read_file(dest_ + "/index.html") == "<h1>no webhook</h1>\n"; }, 60s))
      << dev->log();
  dev->signal(SIGINT);
  EXPECT_EQ(dev->wait(60s), std::optional<int>(0)) << dev->log();
}

TEST_F(GitopsctlDevTest, RefusesAConfigWhoseBrokersAreNotEmbedded) {
  std::string yaml = read_file(config("30s"));
  replace_all(yaml, "brokers: embedded", "brokers: \"localhost:9092\"");
  auto path = dir_.write("cluster.yaml", yaml);
  Process dev({GITOPSCTL_BIN, "dev", "--config", path}, dir_.path() + "/refused.log");
  EXPECT_EQ(dev.wait(30s), std::optional<int>(2)) << dev.log();
  EXPECT_EQ(dev.log().rfind(path + ":", 0), 0u) << dev.log();
  EXPECT_NE(dev.log().find("kafka.brokers"), std::string::npos) << dev.log();
  EXPECT_EQ(status_of(port_, "/hooks/github"), 0) << "nothing may have started";
}

TEST_F(GitopsctlDevTest, DaemonsRefuseTheEmbeddedBroker) {
  auto path = config("30s");
  for (const char* daemon : {GITOPSD_RECEIVER_BIN, GITOPSD_WORKER_BIN}) {
    Process refused({daemon, "--config", path},
                    dir_.path() + "/" + fs::path(daemon).filename().string() + ".log");
    EXPECT_EQ(refused.wait(30s), std::optional<int>(2)) << daemon << ": " << refused.log();
    EXPECT_EQ(refused.log().rfind(path + ":", 0), 0u) << refused.log();
    EXPECT_NE(refused.log().find("gitopsctl dev --config " + path), std::string::npos)
        << refused.log();
  }
}

}  // namespace
}  // namespace gitopsd::test
