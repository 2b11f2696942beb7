// The Worker engine in-process against the real broker, with a short shutdown grace: what the
// binary does on SIGTERM (pipeline_kafkatest) without waiting out the production 30 s.
#include "gitopsd/worker/worker.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <ctime>
#include <map>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "git_servers.hpp"
#include "gitopsd/crypto.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/worker/mirror.hpp"
#include "harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

namespace fs = std::filesystem;
namespace json = boost::json;

// Runs a Worker on a thread of its own until stop().
class RunningWorker {
 public:
  RunningWorker(std::shared_ptr<const Config> config, const worker::WorkerTimings& timings)
      : worker_(std::move(config), metrics_, timings),
        thread_([this] { worker_.run(stop_.get_token()); }) {}
  ~RunningWorker() { stop(); }
  std::string metrics() const { return metrics_.render(); }
  void stop() {
    stop_.request_stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  Metrics metrics_;
  worker::Worker worker_;
  std::stop_source stop_;
  std::jthread thread_;
};

// A config for the repository "infra" at `url` with one target, on topics of its own.
std::shared_ptr<Config> worker_config(const std::string& state_dir, const std::string& url,
                                      Target target) {
  auto config = std::make_shared<Config>();
  config->kafka.brokers = kafka_bootstrap();
  config->kafka.topics = {unique_name("events"), unique_name("results"), unique_name("state"),
                          unique_name("dlq")};
  config->kafka.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  config->worker.group_id = unique_name("group");
  config->worker.state_dir = state_dir;
  config->worker.max_attempts = 2;
  // Re-checks come at each repository's slot, which may be any time within an interval of the
  // start: 7d keeps them out of a test that counts results (the resync tests set their own).
  config->worker.resync_interval = std::chrono::hours(24 * 7);
  config->repositories.push_back(Repository{.name = "infra", .match = "acme/infra", .url = url,
                                            .branch = "main", .targets = {std::move(target)}});
  return config;
}

// A push event for `after`, as the receiver publishes it.
void publish_push(const Config& config, const std::string& before, const std::string& after) {
  const Event event{.event_id = random_uuid(), .provider = EventProvider::github,
                    .delivery_id = unique_name("delivery"),
                    .received_at = format_timestamp(std::chrono::system_clock::now()),
                    .repository = "infra", .full_name = "acme/infra",
                    .clone_url = "https://example.com/acme/infra.git", .branch = "main",
                    .kind = EventKind::push, .before = before, .after = after, .sender = "octocat"};
  produce_record(config.kafka.brokers, config.kafka.topics.events, "infra", to_json(event));
}

TEST(WorkerTest, StopPastTheShutdownGraceStopsTheApplyReportsItAndLeavesItForTheNextOwner) {
  worker::init_libgit2();
  TempDir dir;
  const std::string marker = dir.path() + "/started", done = dir.path() + "/done";
  // The first run outlasts the grace; a run after it is quick.
  GitRepoFixture repo("infra");
  repo.write("web/run.sh", "if [ -e " + marker + " ]; then echo $GITOPSD_COMMIT > " + done +
                               "; else touch " + marker + "; sleep 60; fi\n");
  const auto slow = repo.commit("slow once");
  repo.push();

  auto config = worker_config(dir.path() + "/state", repo.served_path(),
                              Target{.name = "web", .path = "web",
                                     .apply = ExecApply{.command = {"/bin/sh", "run.sh"}}});
  publish_push(*config, std::string(40, '0'), slow);
  worker::WorkerTimings timings;
  timings.shutdown_grace = std::chrono::milliseconds(500);

  {
    RunningWorker first(config, timings);
    ASSERT_TRUE(wait_until([&] { return fs::exists(marker); }, 60s));
    const auto stopping = std::chrono::steady_clock::now();
    first.stop();
    // The grace, then SIGTERM to the command's group: not the 60 s of its sleep.
    EXPECT_LT(std::chrono::steady_clock::now() - stopping, 20s);
  }
  TopicReader results(config->kafka.brokers, config->kafka.topics.results);
  auto records = results.read(1, 30s);
  ASSERT_EQ(records.size(), 1u);
  auto stopped = json::parse(records[0].value).as_object();
  EXPECT_EQ(stopped["status"], "failed") << stopped;
  EXPECT_NE(std::string(stopped["message"].as_string()).find("shutting down"), std::string::npos)
      << stopped;
  EXPECT_EQ(stopped["attempt"], 1) << "no retry once the worker is stopping: " << stopped;
  TopicReader dlq(config->kafka.brokers, config->kafka.topics.dlq);
  EXPECT_TRUE(dlq.read(1, 2s).empty()) << "a stopped apply is not dead-lettered";

  // Not committed: the next owner applies the event.
  RunningWorker next(config, timings);
  records = results.read(2, 60s);
  ASSERT_EQ(records.size(), 2u);
  auto redone = json::parse(records[1].value).as_object();
  EXPECT_EQ(redone["status"], "applied") << redone;
  EXPECT_EQ(redone["commit"], slow.c_str());
  EXPECT_EQ(file_contents(done), slow + "\n");
}

// Rule 2 in the engine: events that wait together on a partition go to the reconciler as one
// batch, which applies the newest commit once.
TEST(WorkerTest, EventsWaitingTogetherAreAppliedTogether) {
  worker::init_libgit2();
  TempDir dir;
  GitRepoFixture repo("infra");
  const auto dest = dir.path() + "/dest";
  auto config = worker_config(dir.path() + "/state", repo.served_path(),
                              Target{.name = "web", .path = "web", .apply = FilesApply{.dest = dest}});
  std::string before(40, '0');
  constexpr int kPushes = 6;
  for (int i = 1; i <= kPushes; ++i) {
    repo.write("web/index.html", "<h1>v" + std::to_string(i) + "</h1>\n");
    const auto after = repo.commit("change " + std::to_string(i));
    repo.push();
    publish_push(*config, before, after);  // all waiting before the worker starts
    before = after;
  }
  RunningWorker worker(config, worker::WorkerTimings{});
  TopicReader results(config->kafka.brokers, config->kafka.topics.results);
  auto records = results.read(kPushes, 60s);
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kPushes));
  std::size_t applied = 0;
  for (const auto& record : records)
    applied += json::parse(record.value).at("status") == "applied" ? 1 : 0;
  EXPECT_GE(applied, 1u);
  EXPECT_LT(applied, static_cast<std::size_t>(kPushes / 2)) << "one apply per batch, not per event";
  EXPECT_EQ(file_contents(dest + "/index.html"), "<h1>v" + std::to_string(kPushes) + "</h1>\n");
}

// "2026-12-04T16:55:31.740Z" as milliseconds since the epoch.
std::int64_t unix_ms(const std::string& timestamp) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(timestamp.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + ms;
}

// Rule 6 at scale: each repository is re-checked once per interval in its own slot, so the
// re-checks come at an even rate; once everything is applied they publish nothing; and a push
// whose webhook never came is applied within an interval.
TEST(WorkerTest, ResyncsAreSpreadOverTheIntervalAndQuietOnesPublishNothing) {
  worker::init_libgit2();
  TempDir dir;
  GitRepoFixture repo("infra");
  repo.write("web/index.html", "<h1>v1</h1>\n");
  repo.commit("first");
  repo.push();
  constexpr int kRepositories = 24;
  constexpr auto kInterval = 6s;
  auto config = worker_config(dir.path() + "/state", repo.served_path(),
                              Target{.name = "web", .path = "web",
                                     .apply = FilesApply{.dest = dir.path() + "/dest-0"}});
  config->worker.resync_interval = kInterval;
  config->worker.max_parallel_fetches = 3;
  for (int i = 1; i < kRepositories; ++i) {
    Repository r = config->repositories.front();
    r.name = "r" + std::to_string(i);
    r.match = "acme/r" + std::to_string(i);
    r.targets.front().apply = FilesApply{.dest = dir.path() + "/dest-" + std::to_string(i)};
    config->repositories.push_back(std::move(r));
  }
  create_topic(config->kafka.brokers, config->kafka.topics.events, 3);
  auto dest_file = [&](int i) { return dir.path() + "/dest-" + std::to_string(i) + "/index.html"; };
  auto all_hold = [&](const std::string& content) {
    for (int i = 0; i < kRepositories; ++i)
      if (file_contents(dest_file(i)) != content) return false;
    return true;
  };

  RunningWorker worker(config, worker::WorkerTimings{});
  // The first interval's re-checks find nothing applied yet and apply every target.
  ASSERT_TRUE(wait_until([&] { return all_hold("<h1>v1</h1>\n"); }, 3 * kInterval)) << worker.metrics();
  TopicReader results(config->kafka.brokers, config->kafka.topics.results);
  ASSERT_EQ(results.read(kRepositories, 30s).size(), static_cast<std::size_t>(kRepositories));

  // Two more intervals: every re-check is quiet.
  std::this_thread::sleep_for(2 * kInterval);
  const auto page = worker.metrics();
  EXPECT_GE(metric_value(page, "gitopsd_resyncs_total{outcome=\"quiet\"}"), kRepositories) << page;
  EXPECT_EQ(results.read_to_end().size(), static_cast<std::size_t>(kRepositories))
      << "a quiet re-check published a result";

  // The poll events, by when they were made: spread over the interval, not in one burst (all
  // 24 in one second before). A slot is 250 ms, so a second holds four or five; a loaded
  // machine can delay the loop by a slot or two, so the bound is the issue's: twice the mean.
  TopicReader events(config->kafka.brokers, config->kafka.topics.events);
  std::map<std::int64_t, int> per_second;
  std::map<std::string, int> per_repository;
  for (const auto& record : events.read_to_end()) {
    const auto event = json::parse(record.value).as_object();
    const auto at = unix_ms(std::string(event.at("received_at").as_string()));
    ASSERT_GE(at, 0) << record.value;
    ++per_second[at / 1000];
    ++per_repository[record.key];
  }
  EXPECT_EQ(per_repository.size(), static_cast<std::size_t>(kRepositories));
  for (const auto& [second, count] : per_second) EXPECT_LE(count, 8) << "second " << second;
  for (const auto& [name, count] : per_repository) {
    EXPECT_GE(count, 2) << name;
    EXPECT_LE(count, 5) << name;
  }

  // A push without a webhook: every repository (all on this one) picks it up within an
  // interval (and one for the apply to land).
  repo.write("web/index.html", "<h1>v2</h1>\n");
  repo.commit("second");
  repo.push();
  EXPECT_TRUE(wait_until([&] { return all_hold("<h1>v2</h1>\n"); }, kInterval + 3s)) << worker.metrics();
}

}  // namespace
}  // namespace gitopsd::test
