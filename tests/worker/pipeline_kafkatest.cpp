// From a push to changed files: a served git repository, the real receiver and worker
// binaries, the real broker. The path every deployment takes.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include <functional>

#include "payloads.hpp"
#include "schema_validator.hpp"
#include "git_servers.hpp"
#include "harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

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
    targets_yaml_ = "      - {name: web, path: web, apply: {type: files, dest: " + dest_ + "}}\n";
  }

  std::string repository_yaml(const std::string& name, const std::string& match, const std::string& url,
                              const std::string& credentials = "") {
    return "  - name: " + name + "\n    provider: github\n    match: " + match + "\n    url: " + url +
           "\n    branch: main\n    secrets: [{file: " + dir_.path() + "/secret}]\n" +
           (credentials.empty() ? "" : "    credentials: " + credentials + "\n") + "    targets:\n" +
           targets_yaml_;
  }

  // The first test's path (push, webhook, files, state) over another protocol.
  void expect_push_applied() {
    start();
    ASSERT_EQ(webhook(kZeroSha, repo_.rev_parse("HEAD")).status, 202);
    auto r = result(1);
    EXPECT_EQ(r["status"], "applied") << r << worker_->log();
    EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v1</h1>\n");
    TopicReader state(setup_.bootstrap, topics_[1]);
    auto records = state.read(1, 30s);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(json::parse(records[0].value).at("commit"), repo_.rev_parse("HEAD").c_str());
  }

  void start() {
    if (setup_.repositories_yaml.empty())
      setup_.repositories_yaml = repository_yaml("infra", "acme/infra", daemon_->url(repo_.name()));
    receiver_ = start_receiver(dir_, setup_);
    worker_config_ = dir_.write("worker.yaml", worker_config_text());
    start_worker();
    results_ = std::make_unique<TopicReader>(setup_.bootstrap, topics_[0]);
  }

  // The receiver's config plus the worker's part: one file for both, as in production.
  std::string worker_config_text() const {
    auto config = receiver_config_yaml(setup_);
    config.replace(config.find("topics: {events: " + setup_.events_topic + "}"),
                   std::string("topics: {events: " + setup_.events_topic + "}").size(),
                   "topics: {events: " + setup_.events_topic + ", results: " + topics_[0] +
                       ", state: " + topics_[1] + ", dlq: " + topics_[2] +
                       "}\n  properties: {session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\"}");
    config += "worker:\n  group_id: " + group_ + "\n  state_dir: " + dir_.path() +
              "/state\n  admin_listen: \"127.0.0.1:" + std::to_string(worker_admin_port_) +
              "\"\n  resync_interval: " + resync_ + "\n  max_attempts: " + std::to_string(max_attempts_) +
              "\n  apply_timeout: " + apply_timeout_ + "\n";
    return config;
  }

  void start_worker() {
    worker_ = std::make_unique<Process>(
        std::vector<std::string>{GITOPSD_WORKER_BIN, "--config", worker_config_},
        dir_.path() + "/worker.log", worker_env_);
  }

  // Waits for a result that satisfies `match`; returns it (empty when none came in time).
  json::object result_where(const std::function<bool(const json::object&)>& match,
                            std::chrono::milliseconds timeout = 90s) {
    json::object found;
    wait_until(
        [&] {
          auto records = results_->read(seen_ + 1, 500ms);
          for (; seen_ < records.size(); ++seen_) {
            auto r = json::parse(records[seen_].value).as_object();
            if (match(r)) {
              found = r;
              ++seen_;
              return true;
            }
          }
          return false;
        },
        timeout, 10ms);
    return found;
  }

  // Starts gitopsd, sends the webhook for the repository's HEAD and waits until it is applied
  // (the resync tests then look for what comes after). Returns HEAD.
  std::string start_and_apply_head() {
    start();
    const auto head = repo_.rev_parse("HEAD");
    EXPECT_EQ(webhook(kZeroSha, head).status, 202);
    EXPECT_FALSE(result_where([&](const json::object& r) {
                   return r.at("status") == "applied" && r.at("commit") == head.c_str();
                 }).empty()) << worker_->log();
    return head;
  }

  // An `exec` target whose apply appends "start <commit>" to `marker`, runs `seconds` (only
  // while `done` does not exist: a run after the first is quick), appends "end <commit>" to it
  // (if its checkout is still there) and its commit to `done`. Starts gitopsd, sends the
  // webhook and returns the commit once the apply is running.
  std::string start_slow_exec_apply(int seconds) {
    targets_yaml_ = "      - {name: web, path: web, apply: {type: exec, command: [/bin/sh, run.sh]}}\n";
    // "end" only while its checkout is still in place around it.
    repo_.write("web/run.sh", "echo start $GITOPSD_COMMIT >> " + marker_ + "\n[ -e " + done_ + " ] || sleep " +
                                  std::to_string(seconds) + "\nif [ -e run.sh ]; then echo end $GITOPSD_COMMIT; else echo checkout-gone; fi >> " +
                                  marker_ + "\necho $GITOPSD_COMMIT >> " + done_ + "\n");
    repo_.commit("slow");
    repo_.push();
    auto slow = repo_.rev_parse("HEAD");
    start();
    EXPECT_EQ(webhook(kZeroSha, slow).status, 202);
    EXPECT_TRUE(wait_until([&] { return fs::exists(marker_); }, 60s)) << worker_->log();
    return slow;
  }

  HttpResponse webhook(const std::string& before, const std::string& after,
                       const std::string& full_name = "acme/infra") {
    auto d = github_delivery("push", github_push(full_name, "main", before, after), kSecret,
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
  std::string targets_yaml_;
  std::string resync_ = "7d";  // no re-check within a test (its slot may come any time)
  std::string apply_timeout_ = "10m";
  int max_attempts_ = 2;
  std::string worker_config_;
  std::string group_ = unique_name("group");
  int worker_admin_port_ = free_port();
  std::map<std::string, std::string> worker_env_;
  std::size_t seen_ = 0;
  std::string marker_ = dir_.path() + "/started";
  std::string done_ = dir_.path() + "/done";
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

  // What an operator's Prometheus sees on the worker's admin port (the drift counters are
  // proven by ReconcilerTest.FilesChangedByHandAreCorrectedAtTheNextResync).
  EXPECT_EQ(http_request(worker_admin_port_, "GET", "/healthz", {}, "").status, 200);
  EXPECT_EQ(http_request(worker_admin_port_, "GET", "/readyz", {}, "").status, 200);
  std::string metrics;
  for (const char* line :
       {"gitopsd_applies_total{repository=\"infra\",target=\"web\",status=\"applied\"} 2",
        "gitopsd_apply_duration_seconds_count{repository=\"infra\",target=\"web\"} 2",
        "gitopsd_fetch_duration_seconds_count ",
        "gitopsd_consumer_lag{partition=\"0\"}"})
    EXPECT_TRUE(wait_until(  // the lag gauge is refreshed every 5 s
        [&] {
          metrics = http_request(worker_admin_port_, "GET", "/metrics", {}, "").body;
          return metrics.find(line) != std::string::npos;
        },
        10s, 100ms))
        << line << "\n" << metrics;

  worker_->signal(SIGTERM);
  EXPECT_EQ(worker_->wait(60s), std::optional<int>(0)) << worker_->log();
}

TEST_F(PipelineTest, SignedPushIsAppliedOverSmartHttpWithAToken) {
  GitHttpServer http(repo_.served_root(), "pipeline-token");
  dir_.write("token", "pipeline-token\n");
  setup_.repositories_yaml = repository_yaml("infra", "acme/infra", http.url(repo_.name()),
                                             "{token_file: " + dir_.path() + "/token}");
  expect_push_applied();
  EXPECT_EQ(worker_->log().find("pipeline-token"), std::string::npos);
}

TEST_F(PipelineTest, SignedPushIsAppliedOverHttpsWithAPrivateCaAndRefusedWithout) {
  GitHttpServer https(repo_.served_root(), "pipeline-token", /*tls=*/true);
  dir_.write("token", "pipeline-token\n");
  setup_.repositories_yaml = repository_yaml("infra", "acme/infra", https.url(repo_.name()),
                                             "{token_file: " + dir_.path() + "/token}");
  // Trusted only through SSL_CERT_FILE, as an operator with a private CA would do it.
  worker_env_ = {{"SSL_CERT_FILE", https.certificate_file()}};
  expect_push_applied();
  ASSERT_FALSE(HasFailure());

  // The same host with only the system CAs: refused at once, not retried, nothing applied.
  worker_->terminate();
  worker_env_ = {};
  start_worker();
  repo_.write("web/index.html", "<h1>v2</h1>\n");
  repo_.commit("second");
  repo_.push();
  ASSERT_EQ(webhook(repo_.rev_parse("HEAD~1"), repo_.rev_parse("HEAD")).status, 202);
  auto r = result(2);
  EXPECT_EQ(r["status"], "failed") << r;
  EXPECT_NE(std::string(r["message"].as_string()).find("certificate"), std::string::npos) << r;
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v1</h1>\n");
}

TEST_F(PipelineTest, SignedPushIsAppliedOverSshWithAKeyAndKnownHosts) {
  SshGitServer ssh;
  if (ssh.skip_reason()) GTEST_SKIP() << *ssh.skip_reason();
  setup_.repositories_yaml = repository_yaml(
      "infra", "acme/infra", ssh.url(repo_.served_path()),
      "{ssh_key_file: " + ssh.client_key() + ", known_hosts: " + ssh.known_hosts() + "}");
  expect_push_applied();
}

// The worker's own resync timer, end to end: it publishes a poll event for each repository
// whose partition it owns (what a resync then does is ReconcilerTest's).
TEST_F(PipelineTest, PushWithoutAWebhookIsAppliedByTheResync) {
  resync_ = "1s";
  start_and_apply_head();
  ASSERT_FALSE(HasFailure());
  repo_.write("web/index.html", "<h1>v2</h1>\n");
  repo_.commit("second");
  repo_.push();  // and no webhook: it was lost
  auto second = repo_.rev_parse("HEAD");
  auto applied = result_where([&](const json::object& r) {
    return r.at("status") == "applied" && r.at("commit") == second.c_str();
  });
  ASSERT_FALSE(applied.empty()) << worker_->log();
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v2</h1>\n");
}

TEST_F(PipelineTest, RefusedEventsAreDeadLetteredOnceAndDoNotBlockThePartition) {
  start();
  const auto first = repo_.rev_parse("HEAD");
  json::object ghost{{"schema", "gitopsd.event.v1"}, {"event_id", "6f1c0a52-6b53-4c3e-9d1e-0f7f3c1a2b3c"},
                     {"provider", "github"}, {"delivery_id", "d-ghost"},
                     {"received_at", "2026-11-23T13:00:00.123Z"}, {"repository", "ghost"},
                     {"full_name", "acme/ghost"}, {"clone_url", "https://example.com/ghost.git"},
                     {"branch", "main"}, {"kind", "push"}, {"before", kZeroSha},
                     {"after", first}, {"forced", false}, {"sender", "octocat"},
                     {"merge_request", nullptr}};
  produce_record(setup_.bootstrap, setup_.events_topic, "infra", json::serialize(ghost));
  TopicReader dlq(setup_.bootstrap, topics_[2]);
  ASSERT_EQ(dlq.read(1, 30s).size(), 1u) << worker_->log();
  worker_->signal(SIGTERM);
  ASSERT_EQ(worker_->wait(60s), std::optional<int>(0)) << worker_->log();

  // A valid event and, right behind it, a malformed one: consumed together, the malformed one
  // is refused while the valid one waits for its batch.
  ASSERT_EQ(webhook(kZeroSha, first).status, 202);
  produce_record(setup_.bootstrap, setup_.events_topic, "infra", "{not json");
  start_worker();
  EXPECT_EQ(result(1)["status"], "applied");
  auto letters = dlq.read(2, 30s);
  ASSERT_EQ(letters.size(), 2u) << worker_->log();
  EXPECT_NE(letters[0].value.find("unknown repository 'ghost'"), std::string::npos) << letters[0].value;
  EXPECT_NE(letters[1].value.find("malformed event"), std::string::npos) << letters[1].value;

  // Restarted before any other event: both refusals were committed, so neither comes back,
  // and the next event flows.
  worker_->signal(SIGTERM);
  ASSERT_EQ(worker_->wait(60s), std::optional<int>(0)) << worker_->log();
  start_worker();
  repo_.write("web/index.html", "<h1>v2</h1>\n");
  repo_.commit("second");
  repo_.push();
  ASSERT_EQ(webhook(first, repo_.rev_parse("HEAD")).status, 202);
  EXPECT_EQ(result(2)["status"], "applied") << worker_->log();
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v2</h1>\n");
  EXPECT_EQ(dlq.read(3, 2s).size(), 2u) << worker_->log();
}

TEST_F(PipelineTest, WorkerKilledMidApplyAppliesTheEventAfterRestart) {
  // Long enough to outlast the restarted worker's wait for the dead member's session to end.
  auto slow = start_slow_exec_apply(12);
  ASSERT_FALSE(HasFailure());
  // Killed once the command's process group is on record (written just after the spawn).
  ASSERT_TRUE(wait_until([&] { return fs::exists(dir_.path() + "/state/running/infra/web"); }, 10s));
  worker_->signal(SIGKILL);
  worker_->wait(10s);
  EXPECT_FALSE(fs::exists(done_));  // the command the killed worker started is still running
  start_worker();
  auto r = result(1);
  EXPECT_EQ(r["status"], "applied") << r << worker_->log();
  // It finished, in its checkout, before the new worker made its own and ran: never two at
  // once on one target.
  EXPECT_EQ(read_file(marker_), "start " + slow + "\nend " + slow + "\nstart " + slow + "\nend " + slow + "\n");
  EXPECT_EQ(read_file(done_), slow + "\n" + slow + "\n");
}

TEST_F(PipelineTest, SigtermLetsTheRunningApplyFinishThenCommitsAndExits) {
  auto slow = start_slow_exec_apply(2);
  ASSERT_FALSE(HasFailure());
  worker_->signal(SIGTERM);
  EXPECT_EQ(worker_->wait(30s), std::optional<int>(0)) << worker_->log();
  EXPECT_EQ(read_file(done_), slow + "\n");  // finished, not killed
  auto r = result(1);
  EXPECT_EQ(r["status"], "applied") << r;

  // Committed: a restarted worker does not apply it again; the next result is the next push.
  start_worker();
  repo_.write("web/run.sh", "echo next\n");
  repo_.commit("next");
  repo_.push();
  auto next = repo_.rev_parse("HEAD");
  ASSERT_EQ(webhook(slow, next).status, 202);
  auto r2 = result(2);
  EXPECT_EQ(r2["commit"], next.c_str()) << r2;
  EXPECT_EQ(read_file(done_), slow + "\n");
}

}  // namespace
}  // namespace gitopsd::test

namespace gitopsd::test {
namespace {

double worker_metric(int admin_port, const std::string& series) {
  return metric_value(http_request(admin_port, "GET", "/metrics", {}, "", 5s).body, series);
}

TEST_F(PipelineTest, ReloadAddsARepositoryAndATargetAndRefusesARemovedOneWithoutARestart) {
  const auto head = start_and_apply_head();
  const pid_t worker_pid = worker_->pid();
  auto reload_worker = [&](const std::string& outcome) {
    const std::string series = "gitopsd_config_reloads_total{outcome=\"" + outcome + "\"}";
    const double before = std::max(0.0, worker_metric(worker_admin_port_, series));
    worker_->signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return worker_metric(worker_admin_port_, series) == before + 1; }, 20s))
        << worker_->log();
  };

  // A second repository on its own git host, and a second target for the first one.
  GitRepoFixture apps("apps");
  apps.write("site/index.html", "<h1>apps v1</h1>\n");
  apps.commit("first");
  apps.push();
  GitDaemon apps_daemon(apps.served_root());
  const std::string apps_dest = dir_.path() + "/apps-dest", readme_dest = dir_.path() + "/readme-dest";
  const std::string infra_yaml = repository_yaml("infra", "acme/infra", daemon_->url(repo_.name()));
  const std::string web_target = targets_yaml_;
  targets_yaml_ = web_target + "      - {name: readme, path: \"\", apply: {type: files, dest: " + readme_dest + "}}\n";
  const std::string infra_with_readme = repository_yaml("infra", "acme/infra", daemon_->url(repo_.name()));
  targets_yaml_ = "      - {name: site, path: site, apply: {type: files, dest: " + apps_dest + "}}\n";
  const std::string apps_yaml = repository_yaml("apps", "acme/apps", apps_daemon.url(apps.name()));

  // Workers first, then receivers: so no webhook of the new repository reaches a worker that
  // does not know it yet.
  setup_.repositories_yaml = infra_with_readme + apps_yaml;
  dir_.write("worker.yaml", worker_config_text());
  reload_worker("ok");
  dir_.write("gitopsd.yaml", receiver_config_yaml(setup_));
  receiver_->signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return webhook(kZeroSha, apps.rev_parse("HEAD"), "acme/apps").status == 202; }, 20s))
      << receiver_->log();
  auto applied = result_where([&](const json::object& r) {
    return r.at("repository") == "apps" && r.at("target") == "site" && r.at("status") == "applied";
  });
  EXPECT_FALSE(applied.empty()) << worker_->log();
  EXPECT_EQ(read_file(apps_dest + "/index.html"), "<h1>apps v1</h1>\n");

  // The new target of the running repository is applied at its next event; the old one
  // is unchanged.
  ASSERT_EQ(webhook(kZeroSha, head).status, 202);
  auto readme = result_where([&](const json::object& r) {
    return r.at("repository") == "infra" && r.at("target") == "readme";
  });
  EXPECT_EQ(readme["status"], "applied") << readme << worker_->log();
  EXPECT_EQ(read_file(readme_dest + "/README.md"), "not deployed\n");

  // A config that does not parse is refused; the running one goes on applying.
  dir_.write("worker.yaml", worker_config_text() + "worker: {}\n");
  reload_worker("failed");
  EXPECT_EQ(worker_metric(worker_admin_port_, "gitopsd_config_last_reload_success"), 0);
  EXPECT_NE(worker_->log().find("config reload failed, the running config stays in force: " +
                                dir_.path() + "/worker.yaml:"),
            std::string::npos)
      << worker_->log();
  apps.write("site/index.html", "<h1>apps v2</h1>\n");
  apps.commit("second");
  apps.push();
  ASSERT_EQ(webhook(apps.rev_parse("HEAD~1"), apps.rev_parse("HEAD"), "acme/apps").status, 202);
  applied = result_where([&](const json::object& r) {
    return r.at("repository") == "apps" && r.at("commit") == apps.rev_parse("HEAD").c_str();
  });
  EXPECT_EQ(applied["status"], "applied") << applied << worker_->log();
  EXPECT_EQ(read_file(apps_dest + "/index.html"), "<h1>apps v2</h1>\n");

  // The first repository removed from the workers (the receiver still takes its webhooks):
  // its events are dead-lettered, not applied, and can be replayed once it is back.
  setup_.repositories_yaml = apps_yaml;
  dir_.write("worker.yaml", worker_config_text());
  reload_worker("ok");
  EXPECT_EQ(worker_metric(worker_admin_port_, "gitopsd_config_last_reload_success"), 1);
  repo_.write("web/index.html", "<h1>v2</h1>\n");
  repo_.commit("second");
  repo_.push();
  ASSERT_EQ(webhook(head, repo_.rev_parse("HEAD")).status, 202);
  TopicReader dlq(setup_.bootstrap, topics_[2]);
  auto letters = dlq.read(1, 30s);
  ASSERT_EQ(letters.size(), 1u) << worker_->log();
  EXPECT_NE(letters[0].value.find("unknown repository 'infra'"), std::string::npos) << letters[0].value;
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v1</h1>\n");
  EXPECT_EQ(worker_->pid(), worker_pid);
  EXPECT_TRUE(worker_->running()) << "reloads do not restart the worker";
}

}  // namespace
}  // namespace gitopsd::test
