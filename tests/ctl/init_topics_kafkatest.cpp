// `gitopsctl init-topics` against the real broker: creates the five topics with their
// settings (read back through the admin API by a re-run), is idempotent, and refuses
// existing topics that would not work.
#include <gtest/gtest.h>

#include "ctl_harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

using InitTopicsTest = CtlFixture;

TEST_F(InitTopicsTest, CreatesTheFiveTopicsThenReportsThemAsExisting) {
  write_config();
  auto first = ctl({"init-topics", "--partitions", "2", "--replication", "1"});
  ASSERT_EQ(first.exit_code, 0) << first;
  EXPECT_TRUE(has_row(first.out, {"state", state_, "created", "2", "1"})) << first;
  EXPECT_TRUE(has_row(first.out, {"statuses", statuses_, "created", "2", "1"})) << first;
  EXPECT_NE(first.out.find("cleanup.policy=compact"), std::string::npos) << first;

  // The re-run inspects what the broker has: what it would say about the compacted state and
  // statuses topics with the settings asked for, and nothing to fix.
  auto again = ctl({"init-topics", "--partitions", "2", "--replication", "1", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again;
  auto doc = json_of(again.out).as_object();
  EXPECT_EQ(doc.at("ok"), true);
  std::map<std::string, boost::json::object> by_role;
  for (const auto& t : doc.at("topics").as_array()) by_role[t.at("role").as_string().c_str()] = t.as_object();
  ASSERT_EQ(by_role.size(), 5u) << again;
  EXPECT_EQ(by_role["state"].at("name"), state_.c_str());
  EXPECT_EQ(by_role["statuses"].at("name"), statuses_.c_str());
  for (const auto& [role, t] : by_role) {
    EXPECT_EQ(t.at("result"), "exists") << role;
    EXPECT_EQ(t.at("partitions"), 2) << role;
    EXPECT_TRUE(t.at("problems").as_array().empty()) << role << again;
    // Every setting gitopsctl asks for is what the broker reports back.
    EXPECT_TRUE(t.at("notes").as_array().empty()) << role << again;
  }
  EXPECT_EQ(by_role["events"].at("settings").at("retention.ms"), "604800000");
  // The statuses topic is compacted like the state topic, with the same settings.
  for (const auto* role : {"state", "statuses"}) {
    EXPECT_EQ(by_role[role].at("settings").at("cleanup.policy"), "compact") << role;
    EXPECT_EQ(by_role[role].at("settings").at("segment.ms"), "86400000") << role;
    EXPECT_EQ(by_role[role].at("settings").at("min.insync.replicas"), "1") << role;
  }
  EXPECT_EQ(by_role["statuses"].at("settings"), by_role["state"].at("settings"));
}

TEST_F(InitTopicsTest, RefusesAnExistingStateTopicThatIsNotCompactedOrHasFewerPartitions) {
  write_config();
  create_topic(kafka_bootstrap(), state_, 1);  // broker defaults: cleanup.policy=delete
  auto run = ctl({"init-topics", "--partitions", "3", "--replication", "1"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find(state_ + ": 1 partitions, fewer than 3"), std::string::npos) << run;
  EXPECT_NE(run.err.find(state_ + ": cleanup.policy is delete, must be compact"), std::string::npos) << run;
  // The others were created all the same.
  EXPECT_TRUE(has_row(run.out, {"events", events_, "created"})) << run;
  EXPECT_TRUE(has_row(run.out, {"statuses", statuses_, "created"})) << run;
  EXPECT_TRUE(has_row(run.out, {"state", state_, "exists", "1", "1"})) << run;
}

// A statuses topic left to the broker's auto-creation (cleanup.policy=delete) would lose a
// target's last commit status once retention passes.
TEST_F(InitTopicsTest, RefusesAnExistingStatusesTopicThatIsNotCompacted) {
  write_config();
  create_topic(kafka_bootstrap(), statuses_, 1);
  auto run = ctl({"init-topics", "--partitions", "1", "--replication", "1"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find(statuses_ + ": cleanup.policy is delete, must be compact"),
            std::string::npos) << run;
  EXPECT_EQ(run.err.find(state_), std::string::npos) << run;
  EXPECT_TRUE(has_row(run.out, {"statuses", statuses_, "exists", "1", "1"})) << run;
  EXPECT_TRUE(has_row(run.out, {"state", state_, "created", "1", "1"})) << run;
}

TEST_F(InitTopicsTest, BadArgumentsAndUnreachableBrokerFailClearly) {
  write_config();
  auto missing = ctl({"init-topics", "--partitions", "2"});
  EXPECT_EQ(missing.exit_code, 2) << missing;
  EXPECT_NE(missing.err.find("--partitions and --replication are required"), std::string::npos);
  auto zero = ctl({"init-topics", "--partitions", "0", "--replication", "1"});
  EXPECT_EQ(zero.exit_code, 2) << zero;

  std::string yaml = slurp(config_);
  yaml.replace(yaml.find(kafka_bootstrap()), kafka_bootstrap().size(), "127.0.0.1:1");
  config_ = dir_.write("down.yaml", yaml);
  auto down = ctl({"init-topics", "--partitions", "1", "--replication", "1", "--timeout", "2s"});
  EXPECT_EQ(down.exit_code, 1) << down;
  EXPECT_NE(down.err.find("did not answer within the timeout"), std::string::npos) << down;
  EXPECT_LT(down.took, 10s);
}

}  // namespace
}  // namespace gitopsd::test
