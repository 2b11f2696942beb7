// `gitopsctl sync` and `gitopsctl status` with the real worker, git daemon and broker: a
// manual sync applies the tip, reports each target with --wait, corrects drift, can be
// limited to one target; status reads it all back from the compacted state topic.
#include <gtest/gtest.h>

#include <filesystem>

#include "ctl_harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

namespace json = boost::json;

class StatusSyncTest : public CtlFixture {};

TEST_F(StatusSyncTest, SyncWaitAppliesTheTipAndStatusShowsEveryTarget) {
  start_worker();
  const auto head = repo_.rev_parse("HEAD");
  auto sync = ctl({"sync", "infra", "--wait", "--json"});
  ASSERT_EQ(sync.exit_code, 0) << sync << worker_log();
  auto doc = json_of(sync.out).as_object();
  ASSERT_EQ(doc.at("results").as_array().size(), 2u) << sync;
  for (const auto& r : doc.at("results").as_array()) {
    EXPECT_EQ(r.at("status"), "applied") << sync;
    EXPECT_EQ(r.at("commit"), head.c_str());
  }
  EXPECT_EQ(slurp(web_dest_ + "/index.html"), "<h1>v1</h1>\n");

  auto status = ctl({"status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status;
  auto targets = json_of(status.out).at("targets").as_array();
  ASSERT_EQ(targets.size(), 2u) << status;
  for (const auto& t : targets) {
    EXPECT_EQ(t.at("repository"), "infra");
    EXPECT_EQ(t.at("commit"), head.c_str()) << status;
    EXPECT_EQ(t.at("status"), "applied");
    EXPECT_TRUE(t.at("last_error").is_null());
    EXPECT_LT(t.at("age_seconds").as_int64(), 120);
  }
  auto table = ctl({"status", "--target", "web"});
  ASSERT_EQ(table.exit_code, 0) << table;
  EXPECT_TRUE(has_row(table.out, {"REPOSITORY", "TARGET", "COMMIT", "STATUS", "APPLIED", "AT", "AGE", "LAST", "ERROR"})) << table;
  EXPECT_TRUE(has_row(table.out, {"infra", "web", head.substr(0, 7), "applied"})) << table;
  EXPECT_EQ(table.out.find(" api "), std::string::npos) << table;
}

TEST_F(StatusSyncTest, SyncOfOneTargetCorrectsItsDriftAndLeavesTheOthersAlone) {
  start_worker();
  ASSERT_EQ(ctl({"sync", "infra", "--wait"}).exit_code, 0) << worker_log();
  // Someone edits both destinations by hand.
  std::ofstream(web_dest_ + "/index.html") << "hacked\n";
  std::ofstream(api_dest_ + "/app.conf") << "hacked\n";

  auto sync = ctl({"sync", "infra", "--target", "web", "--wait"});
  ASSERT_EQ(sync.exit_code, 0) << sync << worker_log();
  EXPECT_TRUE(has_row(sync.out, {"web", repo_.rev_parse("HEAD").substr(0, 7), "drift_corrected"})) << sync;
  EXPECT_EQ(sync.out.find("api"), std::string::npos) << sync;
  EXPECT_EQ(slurp(web_dest_ + "/index.html"), "<h1>v1</h1>\n");
  EXPECT_EQ(slurp(api_dest_ + "/app.conf"), "hacked\n");  // not named: not touched

  // The worker reported nothing for api for this event.
  auto events = ctl({"events", "--json"});
  ASSERT_EQ(events.exit_code, 0) << events;
  auto lines = json_lines(events.out);
  ASSERT_FALSE(lines.empty());
  const auto last_event = lines.back().at("event_id");
  int for_last = 0;
  for (const auto& l : lines) for_last += l.at("event_id") == last_event ? 1 : 0;
  EXPECT_EQ(for_last, 1) << events.out;
}

TEST_F(StatusSyncTest, FailedApplyShowsAsLastErrorAndSyncWaitFails) {
  targets_yaml_ += "      - {name: broken, path: web, apply: {type: exec, command: [/bin/false]}}\n";
  start_worker();
  auto sync = ctl({"sync", "infra", "--wait", "--json"});
  ASSERT_EQ(sync.exit_code, 1) << sync << worker_log();
  auto failed = json_of(sync.out).at("results").as_array();
  ASSERT_EQ(failed.size(), 3u) << sync;
  auto status = ctl({"status", "--json", "--repo", "infra"});
  ASSERT_EQ(status.exit_code, 0) << status;
  bool seen = false;
  const auto targets = json_of(status.out).at("targets").as_array();
  for (const auto& t : targets) {
    if (t.at("target") != "broken") continue;
    seen = true;
    EXPECT_EQ(t.at("status"), "never applied") << status;
    EXPECT_TRUE(t.at("commit").is_null());
    ASSERT_TRUE(t.at("last_error").is_object()) << status;
    EXPECT_EQ(t.at("last_error").at("message"), "/bin/false exited with 1");
    EXPECT_EQ(t.at("last_error").at("commit"), repo_.rev_parse("HEAD").c_str());
  }
  EXPECT_TRUE(seen) << status;
  auto table = ctl({"status", "--target", "broken"});
  EXPECT_NE(table.out.find("/bin/false exited with 1 (" + repo_.rev_parse("HEAD").substr(0, 7)),
            std::string::npos) << table;
}

TEST_F(StatusSyncTest, RefusesUnknownRepositoryTargetAndBadArguments) {
  write_config();
  auto repo = ctl({"sync", "nope"});
  EXPECT_EQ(repo.exit_code, 2) << repo;
  EXPECT_NE(repo.err.find("repository 'nope' is not in"), std::string::npos) << repo;
  auto target = ctl({"sync", "infra", "--target", "nope"});
  EXPECT_EQ(target.exit_code, 2) << target;
  EXPECT_NE(target.err.find("has no target 'nope'"), std::string::npos) << target;
  EXPECT_EQ(ctl({"status", "--repo", "nope"}).exit_code, 2);
  EXPECT_EQ(ctl({"sync"}).exit_code, 2);
  EXPECT_EQ(ctl({"status", "--bogus"}).exit_code, 2);
  EXPECT_EQ(ctl({"events", "--since", "yesterday"}).exit_code, 2);
}

TEST_F(StatusSyncTest, UnreachableBrokerFailsEveryCommandWithinItsTimeout) {
  write_config();
  std::string yaml = slurp(config_);
  yaml.replace(yaml.find(kafka_bootstrap()), kafka_bootstrap().size(), "127.0.0.1:1");
  config_ = dir_.write("down.yaml", yaml);
  const std::vector<std::vector<std::string>> commands{
      {"status"}, {"events"}, {"dlq", "list"}, {"dlq", "replay", "--all"}, {"sync", "infra"},
      {"sync", "infra", "--wait"}};
  // Side by side: each waits out its own timeout.
  std::vector<std::unique_ptr<CtlProcess>> running;
  for (auto args : commands) {
    args.insert(args.end(), {"--timeout", "2s"});
    running.push_back(start_ctl(args));
  }
  for (std::size_t i = 0; i < commands.size(); ++i) {
    auto run = running[i]->finish(30s);
    const auto& name = commands[i][0];
    EXPECT_EQ(run.exit_code, 1) << name << run;
    EXPECT_NE(run.err.find("127.0.0.1:1"), std::string::npos) << name << run;
    EXPECT_LT(run.took, 10s) << name;
  }
}

}  // namespace
}  // namespace gitopsd::test
