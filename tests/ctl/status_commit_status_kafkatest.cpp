// `gitopsctl status` and the statuses topic, against the real broker: each target's last commit
// status (as gitopsd-notifier writes it) next to what the target runs, matched to its commit,
// and a cluster without the statuses topic still answering.
#include <gtest/gtest.h>

#include "ctl_harness.hpp"
#include "gitopsd/records.hpp"

namespace gitopsd::test {
namespace {

const std::string kRunning(40, 'a');  // what the targets run
const std::string kOlder(40, 'b');    // a commit before it

class StatusCommitStatusTest : public CtlFixture {
 protected:
  void SetUp() override {
    CtlFixture::SetUp();
    // A third target nothing was reported for.
    targets_yaml_ += "      - {name: db, path: db, apply: {type: files, dest: " + dir_.path() +
                     "/db}}\n";
    write_config();
  }

  void produce_state(const std::string& target) {
    StateRecord s{.repository = "infra", .target = target, .commit = kRunning,
                  .tree = std::string(40, 'c'), .status = ResultStatus::applied,
                  .applied_at = "2026-11-23T19:51:42.000Z"};
    produce_record(kafka_bootstrap(), state_, target_key("infra", target), to_json(s));
  }

  void produce_commit_status(const CommitStatusRecord& c) {
    produce_record(kafka_bootstrap(), statuses_, target_key(c.repository, c.target), to_json(c));
  }

  static CommitStatusRecord commit_status(const std::string& target, const std::string& commit,
                                          CommitState state, bool set) {
    return {.repository = "infra", .target = target, .commit = commit, .state = state,
            .set = set, .attempts = set ? 1 : 8, .error = set ? "" : "HTTP 401: Bad credentials",
            .event_id = "e-" + target, .at = "2026-11-23T19:52:03.000Z"};
  }

  static std::map<std::string, boost::json::object> by_target(const boost::json::value& doc) {
    std::map<std::string, boost::json::object> out;
    for (const auto& t : doc.at("targets").as_array())
      out[t.at("target").as_string().c_str()] = t.as_object();
    return out;
  }
};

TEST_F(StatusCommitStatusTest, ShowsEachTargetsLastCommitStatusAndWhetherItIsForTheRunningCommit) {
  auto init = ctl({"init-topics", "--partitions", "1", "--replication", "1"});
  ASSERT_EQ(init.exit_code, 0) << init;
  produce_state("web");
  produce_state("api");
  // web: pending, then success on the running commit; the last record per target wins.
  produce_commit_status(commit_status("web", kRunning, CommitState::pending, true));
  produce_commit_status(commit_status("web", kRunning, CommitState::success, true));
  // api: the host refused the failure status of an older commit, and nothing came since.
  produce_commit_status(commit_status("api", kOlder, CommitState::failure, false));
  produce_record(kafka_bootstrap(), statuses_, "infra/junk", "{not json");

  auto json = ctl({"status", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  const auto doc = json_of(json.out);
  EXPECT_TRUE(doc.at("commit_statuses_unavailable").is_null()) << json;
  auto targets = by_target(doc);
  ASSERT_EQ(targets.size(), 3u) << json;
  const auto& web = targets["web"].at("commit_status");
  ASSERT_TRUE(web.is_object()) << json;
  EXPECT_EQ(web.at("state"), "success");
  EXPECT_EQ(web.at("set"), true);
  EXPECT_EQ(web.at("commit"), kRunning.c_str());
  EXPECT_EQ(web.at("for_running_commit"), true);
  EXPECT_EQ(web.at("attempts"), 1);
  EXPECT_EQ(web.at("at"), "2026-11-23T19:52:03.000Z");
  const auto& api = targets["api"].at("commit_status");
  ASSERT_TRUE(api.is_object()) << json;
  EXPECT_EQ(api.at("state"), "failure");
  EXPECT_EQ(api.at("set"), false);
  EXPECT_EQ(api.at("commit"), kOlder.c_str());
  EXPECT_EQ(api.at("for_running_commit"), false);
  EXPECT_EQ(api.at("attempts"), 8);
  EXPECT_EQ(api.at("error"), "HTTP 401: Bad credentials");
  EXPECT_TRUE(targets["db"].at("commit_status").is_null()) << json;
  // The record that does not parse is skipped, and said.
  EXPECT_NE(json.err.find("skipping record " + statuses_ + " 0:3: "), std::string::npos) << json;

  auto table = ctl({"status"});
  ASSERT_EQ(table.exit_code, 0) << table;
  EXPECT_TRUE(has_row(table.out, {"LAST", "ERROR", "COMMIT", "STATUS"})) << table;
  const auto row_of = [&](const std::string& target) {
    std::istringstream lines(table.out);
    for (std::string line; std::getline(lines, line);)
      if (has_row(line, {"infra", target})) return line;
    return std::string();
  };
  EXPECT_TRUE(has_row(row_of("web"), {"-", "success", "set", "2026-11-23", "19:52:03"})) << table;
  EXPECT_NE(row_of("api").find("failure NOT set after 8 tries: HTTP 401: Bad credentials (for " +
                               kOlder.substr(0, 7) + ", not the running commit)"),
            std::string::npos) << table;
  EXPECT_TRUE(has_row(row_of("db"), {"db", "-", "pending", "-", "-", "-", "none"})) << table;
}

// A cluster set up before gitopsd-notifier existed: no statuses topic until init-topics is
// rerun. status still shows what runs, and says once why commit statuses are missing.
TEST_F(StatusCommitStatusTest, WithoutTheStatusesTopicStatusWorksAndSaysSoOnce) {
  create_topic(kafka_bootstrap(), state_, 1);
  produce_state("web");
  produce_state("api");
  const std::string said =
      "commit statuses not shown: topic " + statuses_ + " does not exist (gitopsctl init-topics";

  auto table = ctl({"status"});
  ASSERT_EQ(table.exit_code, 0) << table;
  EXPECT_TRUE(has_row(table.out, {"infra", "web", kRunning.substr(0, 7), "applied"})) << table;
  EXPECT_TRUE(has_row(table.out, {"infra", "api", kRunning.substr(0, 7), "applied"})) << table;
  const auto first = table.err.find(said);
  EXPECT_NE(first, std::string::npos) << table;
  EXPECT_EQ(table.err.find(said, first + 1), std::string::npos) << table;
  EXPECT_EQ(table.out.find("none"), std::string::npos) << table;

  auto json = ctl({"status", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  const auto doc = json_of(json.out);
  ASSERT_TRUE(doc.at("commit_statuses_unavailable").is_string()) << json;
  EXPECT_NE(std::string(doc.at("commit_statuses_unavailable").as_string()).find(statuses_),
            std::string::npos);
  auto targets = by_target(doc);
  ASSERT_EQ(targets.size(), 3u) << json;
  for (const auto& [name, t] : targets) {
    EXPECT_TRUE(t.at("commit_status").is_null()) << name;
    if (name != "db") {
      EXPECT_EQ(t.at("commit"), kRunning.c_str()) << name;
    }
  }
  // Reading a topic that is not there does not create it.
  auto again = ctl({"status", "--json"});
  EXPECT_TRUE(json_of(again.out).at("commit_statuses_unavailable").is_string()) << again;
}

}  // namespace
}  // namespace gitopsd::test
