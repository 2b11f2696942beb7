// RepositoryReconciler in-process: a real repository (a local bare one, which libgit2 fetches
// by path, or `git daemon` on loopback where the host must go away), real files and commands,
// millisecond timings and outcomes collected in a vector instead of Kafka. The worker's rules
// (DESIGN.md 1-6) in milliseconds; pipeline_kafkatest keeps the end-to-end smoke tests.
#include "gitopsd/worker/reconciler.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "git_servers.hpp"
#include "gitopsd/crypto.hpp"
#include "gitopsd/worker/mirror.hpp"
#include "harness.hpp"

namespace gitopsd::worker {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using test::GitDaemon;
using test::GitRepoFixture;
using test::TempDir;

const std::string kZeroSha(40, '0');

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The outcomes a reconciler published, in order. Thread-safe: a test may read while a
// reconcile runs on another thread.
class VectorSink final : public OutcomeSink {
 public:
  bool publish_result(const Result& result) override {
    std::lock_guard lock(mutex_);
    results_.push_back(result);
    return true;
  }
  bool publish_state(const StateRecord& state) override {
    std::lock_guard lock(mutex_);
    states_.push_back(state);
    return true;
  }
  bool dead_letter(const std::string& key, const std::string& record) override {
    std::lock_guard lock(mutex_);
    dead_letters_.push_back({key, json::parse(record).as_object()});
    return true;
  }

  std::vector<Result> results() const {
    std::lock_guard lock(mutex_);
    return results_;
  }
  std::vector<StateRecord> states() const {
    std::lock_guard lock(mutex_);
    return states_;
  }
  std::vector<std::pair<std::string, json::object>> dead_letters() const {
    std::lock_guard lock(mutex_);
    return dead_letters_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Result> results_;
  std::vector<StateRecord> states_;
  std::vector<std::pair<std::string, json::object>> dead_letters_;
};

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() {
    init_libgit2();
    repo_.write("web/index.html", "<h1>v1</h1>\n");
    repo_.write("web/app.sh", "#!/bin/sh\necho hi\n", /*executable=*/true);
    repo_.write("README.md", "not deployed\n");
    first_ = repo_.commit("first");
    repo_.push();
    timings_.first_backoff = 20ms;
    timings_.max_backoff = 80ms;
    timings_.fetch_timeout = 5s;
  }

  // A reconciler for the repository "infra" at `url` (the local bare repository by default)
  // with `target`, made from a config of its own.
  RepositoryReconciler& reconciler(Target target = {}, std::string url = "") {
    if (target.name.empty())
      target = Target{.name = "web", .path = "web", .apply = FilesApply{.dest = dest_}};
    auto config = std::make_shared<Config>();
    config->worker.state_dir = dir_.path() + "/state";
    config->worker.max_attempts = max_attempts_;
    config->worker.apply_timeout = apply_timeout_;
    config->repositories.push_back(Repository{.name = "infra",
                                              .match = "acme/infra",
                                              .url = url.empty() ? repo_.served_path() : url,
                                              .branch = "main",
                                              .targets = {std::move(target)}});
    config_ = config;
    reconciler_ = std::make_unique<RepositoryReconciler>(
        config_->repositories.front(),
        WorkerContext{config_, &sink_, &metrics_, &state_, "test-worker", timings_});
    return *reconciler_;
  }

  // An `exec` target running `script` (written to web/run.sh and committed) with /bin/sh.
  Target exec_target(const std::string& script) {
    repo_.write("web/run.sh", script);
    repo_.commit("run.sh");
    repo_.push();
    return Target{.name = "web", .path = "web", .apply = ExecApply{.command = {"/bin/sh", "run.sh"}}};
  }

  static Event event(EventKind kind, const std::string& before, const std::string& after) {
    return Event{.event_id = random_uuid(), .provider = EventProvider::github, .repository = "infra",
                 .full_name = "acme/infra", .branch = "main", .kind = kind, .before = before,
                 .after = after};
  }
  static Event push(const std::string& before, const std::string& after) {
    return event(EventKind::push, before, after);
  }
  static Event resync() { return event(EventKind::poll, kZeroSha, kZeroSha); }

  bool reconcile(std::vector<Event> events, std::stop_token stop = {}) {
    return reconciler_->reconcile(std::move(events), stop);
  }

  std::string commit_index(const std::string& content) {
    repo_.write("web/index.html", content);
    auto sha = repo_.commit(content);
    repo_.push();
    return sha;
  }

  std::string metrics() const { return metrics_.render(); }

  TempDir dir_;
  GitRepoFixture repo_{"infra"};
  std::string first_;
  std::string dest_ = dir_.path() + "/dest";
  std::string marker_ = dir_.path() + "/marker";
  unsigned max_attempts_ = 3;
  Duration apply_timeout_ = 10s;
  WorkerTimings timings_;
  VectorSink sink_;
  Metrics metrics_;
  StateCache state_;
  std::shared_ptr<const Config> config_;
  std::unique_ptr<RepositoryReconciler> reconciler_;
};

TEST_F(ReconcilerTest, PushIsAppliedAndItsStatePublished) {
  reconciler();
  ASSERT_TRUE(reconcile({push(kZeroSha, first_)}));
  repo_.write("web/index.html", "<h1>v2</h1>\n");
  repo_.remove("web/app.sh");
  const auto second = repo_.commit("second");
  repo_.push();
  ASSERT_TRUE(reconcile({push(first_, second)}));

  auto results = sink_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status, ResultStatus::applied) << results[0].message;
  EXPECT_EQ(results[0].commit, first_);
  EXPECT_EQ(results[1].status, ResultStatus::applied) << results[1].message;
  EXPECT_EQ(results[1].commit, second);
  EXPECT_EQ(results[1].worker, "test-worker");
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v2</h1>\n");
  EXPECT_FALSE(fs::exists(dest_ + "/app.sh"));
  EXPECT_FALSE(fs::exists(dest_ + "/README.md"));
  auto states = sink_.states();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[1].commit, second);
  EXPECT_EQ(states[1].status, ResultStatus::applied);
  EXPECT_TRUE(sink_.dead_letters().empty());
}

// Another worker on the same state_dir holds the repository: the reconcile waits for it, and
// a stop while waiting leaves the events uncommitted. A state_dir whose lock cannot be made
// fails the batch (redone later) instead of ending the worker.
TEST_F(ReconcilerTest, WaitsForTheRepositoryLockAndGivesUpOnStopOrAnUnusableStateDir) {
  reconciler();
  const std::string lock_path = dir_.path() + "/state/locks/infra.reconcile.lock";
  fs::create_directories(fs::path(lock_path).parent_path());
  const int held = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX), 0);
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop.request_stop();
  });
  EXPECT_FALSE(reconcile({push(kZeroSha, first_)}, stop.get_token()));
  stopper.join();
  EXPECT_TRUE(sink_.results().empty()) << "nothing may run while another worker holds it";
  ::close(held);  // released: the same events now apply
  ASSERT_TRUE(reconcile({push(kZeroSha, first_)}));
  ASSERT_EQ(sink_.results().size(), 1u);

  fs::remove_all(dir_.path() + "/state/locks");
  { std::ofstream(dir_.path() + "/state/locks") << "not a directory"; }
  EXPECT_FALSE(reconcile({push(kZeroSha, first_)}));
  EXPECT_EQ(sink_.results().size(), 1u);
}

// Rule 2: a batch of waiting events is served by one apply of the newest commit.
TEST_F(ReconcilerTest, BurstOfPushesEndsOnTheNewestCommitWithOneApply) {
  reconciler();
  std::vector<Event> burst;
  std::string before = first_;
  for (int i = 2; i <= 11; ++i) {
    const auto after = commit_index("<h1>v" + std::to_string(i) + "</h1>\n");
    burst.push_back(push(before, after));
    before = after;
  }
  ASSERT_TRUE(reconcile(burst));
  auto results = sink_.results();
  ASSERT_EQ(results.size(), burst.size());
  std::size_t applied = 0, superseded = 0;
  for (const auto& r : results) {
    applied += r.status == ResultStatus::applied ? 1 : 0;
    superseded += r.status == ResultStatus::superseded ? 1 : 0;
    EXPECT_EQ(r.commit, before) << r.status;
  }
  EXPECT_EQ(applied, 1u);
  EXPECT_EQ(superseded, burst.size() - 1);
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v11</h1>\n");
  EXPECT_EQ(sink_.states().size(), 1u) << "superseded events leave the state alone";
}

// Rule 3: an event naming a commit the branch does not reach is refused.
TEST_F(ReconcilerTest, EventNamingACommitNotOnTheBranchIsRefused) {
  reconciler();
  const std::string forged = "0123456789abcdef0123456789abcdef01234567";
  ASSERT_TRUE(reconcile({push(kZeroSha, forged)}));
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, ResultStatus::failed);
  EXPECT_EQ(results[0].commit, forged);
  EXPECT_NE(results[0].message.find("not on branch"), std::string::npos) << results[0].message;
  EXPECT_FALSE(fs::exists(dest_));
  EXPECT_TRUE(sink_.states().empty());
}

// Rule 3: a late event for an older commit finds the target at the tip, not the commit.
TEST_F(ReconcilerTest, OlderEventAfterANewerOneDoesNotMoveBackwards) {
  reconciler();
  const auto second = commit_index("<h1>v2</h1>\n");
  ASSERT_TRUE(reconcile({push(first_, second)}));
  ASSERT_TRUE(reconcile({push(kZeroSha, first_)}));  // delivered late
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status, ResultStatus::applied);
  EXPECT_EQ(results[1].status, ResultStatus::unchanged) << results[1].message;
  EXPECT_EQ(results[1].commit, second);
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v2</h1>\n");
}

// A rollback is a change of the branch (here a reset), applied and marked as one.
TEST_F(ReconcilerTest, BranchResetToAnOlderCommitIsAppliedAsARollback) {
  reconciler();
  const auto second = commit_index("<h1>v2</h1>\n");
  ASSERT_TRUE(reconcile({push(first_, second)}));
  repo_.force_reset(first_);
  ASSERT_TRUE(reconcile({push(second, first_)}));
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status, ResultStatus::applied) << results[1].message;
  EXPECT_EQ(results[1].commit, first_);
  EXPECT_TRUE(results[1].rollback);
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v1</h1>\n");
}

// Rule 5: a failure of the moment is retried after a backoff.
TEST_F(ReconcilerTest, FailedApplyIsRetriedWithBackoffThenApplied) {
  auto& r = reconciler(exec_target("if [ -e " + marker_ + " ]; then echo deployed; else touch " +
                                   marker_ + "; exit 3; fi\n"));
  const auto head = repo_.rev_parse("HEAD");
  ASSERT_TRUE(r.reconcile({push(first_, head)}, {}));
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, ResultStatus::applied) << results[0].message;
  EXPECT_EQ(results[0].attempt, 2);
  EXPECT_NE(results[0].output_tail.find("deployed"), std::string::npos);
  EXPECT_TRUE(sink_.dead_letters().empty());
}

// Rule 5: after max_attempts, failed, dead-lettered once, and the error kept in the state.
TEST_F(ReconcilerTest, ApplyFailingEveryAttemptIsDeadLetteredOnce) {
  auto& r = reconciler(exec_target("echo broken; exit 3\n"));
  const auto head = repo_.rev_parse("HEAD");
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(r.reconcile({push(first_, head)}, {}));
  // Two backoffs: 20 ms, then 40 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - started, 60ms);
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, ResultStatus::failed);
  EXPECT_EQ(results[0].attempt, 3);
  EXPECT_NE(results[0].message.find("exited with 3"), std::string::npos) << results[0].message;
  EXPECT_NE(results[0].output_tail.find("broken"), std::string::npos);
  auto letters = sink_.dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].first, "infra");
  EXPECT_EQ(letters[0].second.at("attempts"), 3);
  EXPECT_EQ(letters[0].second.at("event").at("after"), head.c_str());
  auto states = sink_.states();
  ASSERT_EQ(states.size(), 1u);
  ASSERT_TRUE(states[0].last_error.has_value());
  EXPECT_EQ(states[0].last_error->commit, head);
  EXPECT_EQ(states[0].commit, "") << "never applied";
}

// Rule 5 for fetches: a git host back within the retries; one that stays away fails the
// events to the DLQ with every attempt counted.
TEST_F(ReconcilerTest, GitHostBackWithinTheRetriesIsAppliedAndOneThatStaysAwayIsDeadLettered) {
  GitDaemon daemon(repo_.served_root());
  max_attempts_ = 6;
  timings_.first_backoff = 100ms;  // retries after 0.1, 0.2, 0.4, 0.8, 1.6 s
  timings_.max_backoff = 2s;
  auto& r = reconciler({}, daemon.url(repo_.name()));
  daemon.stop();
  std::jthread restart([&] {
    std::this_thread::sleep_for(250ms);
    daemon.start();
  });
  ASSERT_TRUE(r.reconcile({push(kZeroSha, first_)}, {}));
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, ResultStatus::applied) << results[0].message;
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v1</h1>\n");
  // Every attempt is timed: more than one means the host was away at first.
  EXPECT_GE(test::metric_value(metrics(), "gitopsd_fetch_duration_seconds_count"), 2);

  max_attempts_ = 2;
  auto& gone = reconciler({}, "git://127.0.0.1:" + std::to_string(test::free_port()) + "/gone.git");
  ASSERT_TRUE(gone.reconcile({push(kZeroSha, first_)}, {}));
  results = sink_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status, ResultStatus::failed);
  EXPECT_NE(results[1].message.find("fetch failed"), std::string::npos) << results[1].message;
  auto letters = sink_.dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].second.at("attempts"), 2);
}

// Rule 6: a resync compares the target with the tip and corrects what was changed by hand.
TEST_F(ReconcilerTest, FilesChangedByHandAreCorrectedAtTheNextResync) {
  reconciler();
  ASSERT_TRUE(reconcile({push(kZeroSha, first_)}));
  std::ofstream(dest_ + "/index.html") << "defaced";
  std::ofstream(dest_ + "/extra.txt") << "left behind";
  fs::remove(dest_ + "/app.sh");
  ASSERT_TRUE(reconcile({resync()}));
  ASSERT_TRUE(reconcile({resync()}));
  // The second resync finds the target in sync: it publishes nothing (rule 6).
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status, ResultStatus::drift_corrected) << results[1].message;
  EXPECT_EQ(results[1].commit, first_);
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v1</h1>\n");
  EXPECT_FALSE(fs::exists(dest_ + "/extra.txt"));
  EXPECT_TRUE(fs::exists(dest_ + "/app.sh"));
  const auto page = metrics();
  for (const char* line :
       {"gitopsd_applies_total{repository=\"infra\",target=\"web\",status=\"applied\"} 1",
        "gitopsd_drift_found_total{repository=\"infra\",target=\"web\"} 1",
        "gitopsd_drift_corrected_total{repository=\"infra\",target=\"web\"} 1",
        "gitopsd_apply_duration_seconds_count{repository=\"infra\",target=\"web\"} 1",
        "gitopsd_resyncs_total{outcome=\"drift\"} 1", "gitopsd_resyncs_total{outcome=\"quiet\"} 1"})
    EXPECT_NE(page.find(line), std::string::npos) << line << "\n" << page;
}

// Rule 6: a resync that finds no new commit and no drift publishes no result, no state and no
// dead letter; it shows in the metrics, with when the repository was last re-checked.
TEST_F(ReconcilerTest, QuietResyncPublishesNothingAndShowsInMetrics) {
  reconciler();
  ASSERT_TRUE(reconcile({push(kZeroSha, first_)}));
  const auto states = sink_.states().size();
  const double before = std::chrono::duration<double>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reconcile({resync()}));
  EXPECT_EQ(sink_.results().size(), 1u) << "only the push's apply";
  EXPECT_EQ(sink_.states().size(), states);
  EXPECT_TRUE(sink_.dead_letters().empty());
  const auto page = metrics();
  EXPECT_EQ(test::metric_value(page, "gitopsd_resyncs_total{outcome=\"quiet\"}"), 3) << page;
  EXPECT_GE(test::metric_value(page, "gitopsd_resync_last_timestamp_seconds{repository=\"infra\"}"),
            std::floor(before))
      << page;
  // A manual sync was asked for by someone: it is answered even when nothing changed.
  ASSERT_TRUE(reconcile({event(EventKind::manual, kZeroSha, kZeroSha)}));
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status, ResultStatus::unchanged) << results[1].message;
  EXPECT_EQ(results[1].message, "in sync");
}

// A resync that finds a new commit and one that fails still say so.
TEST_F(ReconcilerTest, ResyncThatAppliesOrFailsPublishesItsResult) {
  auto& r = reconciler(exec_target("echo deployed\n"));
  const auto head = repo_.rev_parse("HEAD");
  ASSERT_TRUE(r.reconcile({resync()}, {}));
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, ResultStatus::applied) << results[0].message;
  EXPECT_EQ(results[0].commit, head);
  max_attempts_ = 1;
  auto& gone = reconciler({}, "git://127.0.0.1:" + std::to_string(test::free_port()) + "/gone.git");
  ASSERT_TRUE(gone.reconcile({resync()}, {}));
  results = sink_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status, ResultStatus::failed) << results[1].message;
  const auto page = metrics();
  EXPECT_EQ(test::metric_value(page, "gitopsd_resyncs_total{outcome=\"applied\"}"), 1) << page;
  EXPECT_EQ(test::metric_value(page, "gitopsd_resyncs_total{outcome=\"failed\"}"), 1) << page;
}

// Rule 6: a push whose webhook was lost is applied by the next resync.
TEST_F(ReconcilerTest, PushWithoutAWebhookIsAppliedByTheResync) {
  reconciler();
  ASSERT_TRUE(reconcile({push(kZeroSha, first_)}));
  const auto second = commit_index("<h1>v2</h1>\n");  // and no event for it
  ASSERT_TRUE(reconcile({resync()}));
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status, ResultStatus::applied) << results[1].message;
  EXPECT_EQ(results[1].commit, second);
  EXPECT_EQ(read_file(dest_ + "/index.html"), "<h1>v2</h1>\n");
}

// A tree refused for its own content is not retried: another attempt cannot succeed.
TEST_F(ReconcilerTest, SymlinkEscapingDestIsRefusedWithoutRetryAndNothingIsWritten) {
  repo_.symlink("web/passwd", "../../../../../../etc/passwd");
  const auto evil = repo_.commit("evil");
  repo_.push();
  reconciler();
  ASSERT_TRUE(reconcile({push(kZeroSha, evil)}));
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, ResultStatus::failed);
  EXPECT_NE(results[0].message.find("escapes"), std::string::npos) << results[0].message;
  EXPECT_EQ(results[0].attempt, 1) << "refused, not retried";
  EXPECT_FALSE(fs::exists(dest_));
  EXPECT_EQ(sink_.dead_letters().size(), 1u);
}

// A command over apply_timeout is killed and not retried (it would hang as long again); the
// next event is applied.
TEST_F(ReconcilerTest, ExecApplyOverTheTimeoutIsKilledAndTheNextEventFlows) {
  apply_timeout_ = 300ms;
  auto& r = reconciler(exec_target("sleep 60\n"));
  const auto hangs = repo_.rev_parse("HEAD");
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(r.reconcile({push(first_, hangs)}, {}));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, ResultStatus::failed);
  EXPECT_NE(results[0].message.find("apply_timeout"), std::string::npos) << results[0].message;
  EXPECT_EQ(results[0].attempt, 1);
  EXPECT_EQ(sink_.dead_letters().size(), 1u);

  repo_.write("web/run.sh", "echo \"deployed $GITOPSD_COMMIT\"\n");
  const auto fixed = repo_.commit("fixed");
  repo_.push();
  ASSERT_TRUE(r.reconcile({push(hangs, fixed)}, {}));
  results = sink_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status, ResultStatus::applied) << results[1].message;
  EXPECT_NE(results[1].output_tail.find("deployed " + fixed), std::string::npos);
}

// The worker's shutdown after its grace: the running command is stopped, reported failed,
// not retried, not dead-lettered, and reconcile() says not to commit (the next owner redoes
// the event).
TEST_F(ReconcilerTest, StopDuringAnApplyReportsItFailedAndLeavesItUncommitted) {
  auto& r = reconciler(exec_target("touch " + marker_ + "; sleep 60\n"));
  const auto slow = repo_.rev_parse("HEAD");
  std::stop_source stop;
  bool committed = true;
  std::jthread run([&] { committed = r.reconcile({push(first_, slow)}, stop.get_token()); });
  ASSERT_TRUE(test::wait_until([&] { return fs::exists(marker_); }, 10s));
  const auto stopped_at = std::chrono::steady_clock::now();
  stop.request_stop();
  run.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 5s) << "the command gets SIGTERM";
  EXPECT_FALSE(committed);
  auto results = sink_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, ResultStatus::failed);
  EXPECT_NE(results[0].message.find("worker shutting down"), std::string::npos)
      << results[0].message;
  EXPECT_EQ(results[0].attempt, 1) << "no retry once the worker is stopping";
  EXPECT_TRUE(sink_.dead_letters().empty()) << "a stopped apply is not dead-lettered";
}

}  // namespace
}  // namespace gitopsd::worker
