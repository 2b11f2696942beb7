// The Worker engine in-process against the real broker, with a short shutdown grace: what the
// binary does on SIGTERM (pipeline_kafkatest) without waiting out the production 30 s.
#include "gitopsd/worker/worker.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
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

namespace fs = std::filesystem;
namespace json = boost::json;

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a Worker on a thread of its own until stop().
class RunningWorker {
 public:
  RunningWorker(std::shared_ptr<const Config> config, const worker::WorkerTimings& timings)
      : worker_(std::move(config), metrics_, timings),
        thread_([this] { worker_.run(stop_.get_token()); }) {}
  ~RunningWorker() { stop(); }
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

  auto config = std::make_shared<Config>();
  config->kafka.brokers = kafka_bootstrap();
  config->kafka.topics = {unique_name("events"), unique_name("results"), unique_name("state"),
                          unique_name("dlq")};
  config->kafka.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  config->worker.group_id = unique_name("group");
  config->worker.state_dir = dir.path() + "/state";
  config->worker.max_attempts = 2;
  config->repositories.push_back(Repository{
      .name = "infra", .match = "acme/infra", .url = repo.served_path(), .branch = "main",
      .targets = {Target{.name = "web", .path = "web",
                         .apply = ExecApply{.command = {"/bin/sh", "run.sh"}}}}});
  const Event event{.event_id = random_uuid(), .provider = "github", .delivery_id = "d-grace",
                    .received_at = format_timestamp(std::chrono::system_clock::now()),
                    .repository = "infra", .full_name = "acme/infra",
                    .clone_url = "https://example.com/acme/infra.git", .branch = "main",
                    .kind = "push", .before = std::string(40, '0'), .after = slow,
                    .sender = "octocat"};
  produce_record(config->kafka.brokers, config->kafka.topics.events, "infra", to_json(event));
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
  EXPECT_EQ(file_text(done), slow + "\n");
}

}  // namespace
}  // namespace gitopsd::test
