// From a push to changed files: a served git repository, the real receiver and worker
// binaries, the real broker. The path every deployment takes.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "../receiver/payloads.hpp"
#include "../receiver/schema_validator.hpp"
#include "git_servers.hpp"
#include "harness.hpp"

namespace gitopsd::test {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
constexpr const char* kSecret = "pipeline-secret";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.write("web/index.html", "<h1>v1</h1>\n");
    repo_.write("web/app.sh", "#!/bin/sh\necho hi\n", /*executable=*/true);
    repo_.write("README.md", "not deployed\n");
    repo_.commit("first");
    repo_.push();
    daemon_ = std::make_unique<GitDaemon>(repo_.served_root());
    dest_ = dir_.path() + "/dest";
    dir_.write("secret", kSecret);
    setup_ = {.bootstrap = kafka_bootstrap(), .events_topic = unique_name("events"),
              .port = free_port(), .admin_port = free_port(),
              .extra_receiver_yaml = "  publish_timeout: 10s\n", .repositories_yaml = ""};
    topics_ = {unique_name("results"), unique_name("state"), unique_name("dlq")};
    setup_.repositories_yaml =
        "  - name: infra\n    provider: github\n    match: acme/infra\n    url: " + daemon_->url(repo_.name()) +
        "\n    branch: main\n    secrets: [{file: " + dir_.path() + "/secret}]\n    targets:\n"
        "      - {name: web, path: web, apply: {type: files, dest: " + dest_ + "}}\n";
  }

  void start() {
    receiver_ = start_receiver(dir_, setup_);
    auto config = receiver_config_yaml(setup_);
    // The receiver's config plus the worker's part: one file for both, as in production.
    config.replace(config.find("topics: {events: " + setup_.events_topic + "}"),
                   std::string("topics: {events: " + setup_.events_topic + "}").size(),
                   "topics: {events: " + setup_.events_topic + ", results: " + topics_[0] +
                       ", state: " + topics_[1] + ", dlq: " + topics_[2] + "}");
    config += "worker:\n  group_id: " + unique_name("group") + "\n  state_dir: " + dir_.path() +
              "/state\n  admin_listen: \"127.0.0.1:" + std::to_string(free_port()) +
              "\"\n  resync_interval: 10m\n  max_attempts: 2\n";
    auto path = dir_.write("worker.yaml", config);
    worker_ = std::make_unique<Process>(std::vector<std::string>{GITOPSD_WORKER_BIN, "--config", path},
                                        dir_.path() + "/worker.log");
    results_ = std::make_unique<TopicReader>(setup_.bootstrap, topics_[0]);
  }

  HttpResponse webhook(const std::string& before, const std::string& after) {
    auto d = github_delivery("push", github_push("acme/infra", "main", before, after), kSecret,
                             unique_name("delivery"));
    std::map<std::string, std::string> headers(d.headers.begin(), d.headers.end());
    return http_request(setup_.port, "POST", d.path, headers, d.body);
  }

  // Waits for the `n`th result on the results topic.
  json::object result(std::size_t n) {
    auto records = results_->read(n, 60s);
    EXPECT_GE(records.size(), n) << worker_->log();
    if (records.size() < n) return {};
    EXPECT_TRUE(matches_schema(records[n - 1].value, GITOPSD_SOURCE_DIR "/schemas/result.v1.json"));
    EXPECT_EQ(records[n - 1].key, "infra/web");
    return json::parse(records[n - 1].value).as_object();
  }

  GitRepoFixture repo_{"infra"};
  std::unique_ptr<GitDaemon> daemon_;
  TempDir dir_;
  std::string dest_;
  ReceiverSetup setup_;
  std::vector<std::string> topics_;
  std::unique_ptr<Process> receiver_;
  std::unique_ptr<Process> worker_;
  std::unique_ptr<TopicReader> results_;
};

TEST_F(PipelineTest, SignedPushIsAppliedToTheFilesTarget) {
  start();
  auto first = repo_.rev_parse("HEAD");
  ASSERT_EQ(webhook(kZeroSha, first).status, 202);
  auto r1 = result(1);
  EXPECT_EQ(r1["status"], "applied") << r1;
  EXPECT_EQ(r1["commit"], first.c_str());
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v1</h1>\n");
  EXPECT_TRUE((fs::status(dest_ + "/app.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);
  EXPECT_FALSE(fs::exists(dest_ + "/README.md"));

  repo_.write("web/index.html", "<h1>v2</h1>\n");
  repo_.remove("web/app.sh");
  repo_.commit("second");
  repo_.push();
  auto second = repo_.rev_parse("HEAD");
  ASSERT_EQ(webhook(first, second).status, 202);
  auto r2 = result(2);
  EXPECT_EQ(r2["status"], "applied") << r2;
  EXPECT_EQ(r2["commit"], second.c_str());
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v2</h1>\n");
  EXPECT_FALSE(fs::exists(dest_ + "/app.sh"));

  TopicReader state(setup_.bootstrap, topics_[1]);
  auto records = state.read(2, 30s);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_TRUE(matches_schema(records[1].value, GITOPSD_SOURCE_DIR "/schemas/state.v1.json"));
  EXPECT_EQ(json::parse(records[1].value).at("commit"), second.c_str());

  worker_->signal(SIGTERM);
  EXPECT_EQ(worker_->wait(60s), std::optional<int>(0)) << worker_->log();
}

TEST_F(PipelineTest, OlderEventAfterANewerOneDoesNotMoveBackwards) {
  start();
  auto first = repo_.rev_parse("HEAD");
  repo_.write("web/index.html", "<h1>v2</h1>\n");
  repo_.commit("second");
  repo_.push();
  auto second = repo_.rev_parse("HEAD");
  ASSERT_EQ(webhook(first, second).status, 202);
  EXPECT_EQ(result(1)["status"], "applied");
  ASSERT_EQ(webhook(kZeroSha, first).status, 202);  // delivered late
  auto late = result(2);
  EXPECT_EQ(late["status"], "unchanged") << late;
  EXPECT_EQ(late["commit"], second.c_str());
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v2</h1>\n");
}

TEST_F(PipelineTest, EventNamingACommitNotOnTheBranchIsRefused) {
  start();
  const std::string forged = "0123456789abcdef0123456789abcdef01234567";
  ASSERT_EQ(webhook(kZeroSha, forged).status, 202);  // validly signed, but not a real commit
  auto r = result(1);
  EXPECT_EQ(r["status"], "failed") << r;
  EXPECT_NE(std::string(r["message"].as_string()).find("not on branch"), std::string::npos) << r;
  EXPECT_FALSE(fs::exists(dest_ + "/index.html"));
}

}  // namespace
}  // namespace gitopsd::test
