// `gitopsctl events` and `gitopsctl dlq` with the real worker, git daemon and broker: the audit
// log joins results with who asked, hides the resync's noise, follows new results; dead
// letters are listed, replayed once, and refused events are never replayed.
#include <gtest/gtest.h>
#include <signal.h>

#include <iterator>
#include <sstream>

#include "ctl_harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

namespace json = boost::json;

std::string login() {
  const char* user = std::getenv("USER");
  return user ? user : "";
}

class EventsTest : public CtlFixture {};

TEST_F(EventsTest, ShowsWhoAndOutcomeAndQuietResyncsLeaveNoRecord) {
  resync_ = "1s";
  start_worker();
  auto sync = ctl({"sync", "infra", "--wait", "--json"});
  ASSERT_EQ(sync.exit_code, 0) << sync << worker_log();
  const auto event_id = json_of(sync.out).at("event_id");
  // A resync every second from now on, each finding the targets as applied: quiet (rule 6).
  auto quiet = [&] {
    try {
      return metric_value(http_request(worker_admin_port_, "GET", "/metrics", {}, "", 2s).body,
                          "gitopsd_resyncs_total{outcome=\"quiet\"}");
    } catch (const std::exception&) {
      return 0.0;
    }
  };
  ASSERT_TRUE(wait_until([&] { return quiet() >= 3; }, 60s, 500ms)) << worker_log();

  // Not even --all shows them: they published nothing.
  auto all = ctl({"events", "--all", "--json", "--since", "1h"});
  ASSERT_EQ(all.exit_code, 0) << all;
  for (const auto& l : json_lines(all.out))
    EXPECT_FALSE(l.at("kind") == "poll" && l.at("status") == "unchanged") << all.out;

  auto events = ctl({"events", "--json", "--since", "1h"});
  ASSERT_EQ(events.exit_code, 0) << events;
  int manual = 0;
  for (const auto& l : json_lines(events.out)) {
    EXPECT_FALSE(l.at("kind") == "poll" && l.at("status") == "unchanged") << events.out;
    if (l.at("event_id") != event_id) continue;
    ++manual;
    EXPECT_EQ(l.at("kind"), "manual");
    // The resync runs every second, so a poll may carry the apply instead: one read in the
    // same batch, after the sync, serves it ("superseded"), and one read before it has applied
    // the commit already ("unchanged", seen on Debian 13 once the first publish got fast).
    EXPECT_TRUE(l.at("status") == "applied" || l.at("status") == "superseded" ||
                l.at("status") == "unchanged")
        << events.out;
    EXPECT_EQ(l.at("commit"), repo_.rev_parse("HEAD").c_str());
    EXPECT_EQ(l.at("attempt"), 1);
    if (!login().empty()) {
      EXPECT_EQ(l.at("sender"), login().c_str());
    }
  }
  EXPECT_EQ(manual, 2) << events.out;

  auto table = ctl({"events", "--target", "web"});
  ASSERT_EQ(table.exit_code, 0) << table;
  EXPECT_TRUE(has_row(table.out, {"TIME", "REPOSITORY", "TARGET", "KIND", "WHO", "CHANGE", "COMMIT"})) << table;
  EXPECT_TRUE(has_row(table.out, {"infra", "web", "manual"})) << table;
  EXPECT_EQ(table.out.find(" api "), std::string::npos) << table;
  // A resync that raced the sync shows (superseded, or carrying the apply); unchanged ones never.
  // Columns by position: TIME is two words (date, time), so KIND is the 5th word and STATUS the
  // 9th; MESSAGE may say "0 unchanged" on any row.
  std::istringstream rows(table.out);
  for (std::string row; std::getline(rows, row);) {
    std::istringstream words(row);
    std::vector<std::string> column{std::istream_iterator<std::string>(words), {}};
    if (column.size() < 9) continue;
    EXPECT_FALSE(column[4] == "poll" && column[8] == "unchanged") << table;
  }
}

TEST_F(EventsTest, FollowPrintsNewResultsUntilInterrupted) {
  start_worker();
  Process follow({GITOPSCTL_BIN, "events", "--follow", "--json", "--config", config_},
                 dir_.path() + "/follow.log");
  auto sync = ctl({"sync", "infra", "--wait", "--json"});
  ASSERT_EQ(sync.exit_code, 0) << sync << worker_log();
  const std::string event_id = json_of(sync.out).at("event_id").as_string().c_str();
  // The follower may have opened after the results: a second sync is then seen for sure.
  std::string second_id;
  bool seen = wait_until([&] { return follow.log().find(event_id) != std::string::npos; }, 5s);
  if (!seen) {
    auto again = ctl({"sync", "infra", "--wait", "--json"});
    second_id = json_of(again.out).at("event_id").as_string().c_str();
    seen = wait_until([&] { return follow.log().find(second_id) != std::string::npos; }, 30s);
  }
  EXPECT_TRUE(seen) << follow.log();
  follow.signal(SIGINT);
  EXPECT_EQ(follow.wait(10s), 0) << follow.log();
  for (const auto& l : json_lines(follow.log())) EXPECT_EQ(l.at("repository"), "infra");
}

class DlqTest : public CtlFixture {};

TEST_F(DlqTest, ListsDeadLettersAndReplaysEachOnceAndNeverARefusedEvent) {
  targets_yaml_ = "      - {name: broken, path: web, apply: {type: exec, command: [/bin/false]}}\n";
  start_worker();
  // A failed apply (max_attempts 1), and an event the worker refuses (not JSON).
  auto sync = ctl({"sync", "infra", "--wait", "--json"});
  ASSERT_EQ(sync.exit_code, 1) << sync << worker_log();
  const std::string failed_event = json_of(sync.out).at("event_id").as_string().c_str();
  produce_record(kafka_bootstrap(), events_, "infra", "{not json");
  TopicReader dlq(kafka_bootstrap(), dlq_);
  ASSERT_EQ(dlq.read(2, 60s).size(), 2u) << worker_log();
  worker_->terminate();  // nothing consumes what is replayed: the events topic shows it as is

  auto list = ctl({"dlq", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list;
  auto entries = json_of(list.out).at("entries").as_array();
  ASSERT_EQ(entries.size(), 2u) << list;
  std::string failed_id, refused_id;
  for (const auto& e : entries) {
    EXPECT_TRUE(e.at("replayed_at").is_null());
    if (e.at("replayable") == true) {
      failed_id = e.at("id").as_string().c_str();
      EXPECT_EQ(e.at("event").at("event_id"), failed_event.c_str());
      EXPECT_NE(std::string(e.at("error").as_string()).find("/bin/false exited with 1"), std::string::npos);
    } else {
      refused_id = e.at("id").as_string().c_str();
      EXPECT_NE(std::string(e.at("error").as_string()).find("malformed event"), std::string::npos);
    }
  }
  ASSERT_FALSE(failed_id.empty());
  ASSERT_FALSE(refused_id.empty());

  auto refused = ctl({"dlq", "replay", "--id", refused_id});
  EXPECT_EQ(refused.exit_code, 1) << refused;
  EXPECT_NE(refused.err.find("cannot be replayed: it is a refused event"), std::string::npos) << refused;

  auto first = ctl({"dlq", "replay", "--all"});
  ASSERT_EQ(first.exit_code, 0) << first;
  EXPECT_NE(first.out.find("replayed " + failed_id + ": event " + failed_event), std::string::npos) << first;
  EXPECT_NE(first.out.find("skipped " + refused_id), std::string::npos) << first;
  auto second = ctl({"dlq", "replay", "--all"});
  ASSERT_EQ(second.exit_code, 0) << second;
  EXPECT_EQ(second.out.find("replayed"), std::string::npos) << second;
  EXPECT_NE(second.out.find("nothing to replay"), std::string::npos) << second;
  auto by_id = ctl({"dlq", "replay", "--id", failed_id});
  EXPECT_EQ(by_id.exit_code, 1) << by_id;
  EXPECT_NE(by_id.err.find("was replayed already"), std::string::npos) << by_id;

  // On the events topic: the sync, the refused record and exactly one replay, keyed by
  // repository: the event as dead-lettered (the worker had resolved the tip into `after`).
  TopicReader events(kafka_bootstrap(), events_);
  auto records = events.read_to_end();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2].key, "infra");
  const auto replayed = json::parse(records[2].value);
  EXPECT_EQ(replayed.at("event_id"), failed_event.c_str());
  for (const auto& e : entries)
    if (e.at("replayable") == true) {
      EXPECT_EQ(replayed, e.at("event"));
    }

  auto table = ctl({"dlq", "list"});
  ASSERT_EQ(table.exit_code, 0) << table;
  EXPECT_TRUE(has_row(table.out, {"ID", "REPOSITORY", "FAILED", "AT", "KIND"})) << table;
  EXPECT_TRUE(has_row(table.out, {refused_id, "infra"})) << table;
  EXPECT_TRUE(has_row(table.out, {"refused", "-", "-", "0", "never"})) << table;
}

}  // namespace
}  // namespace gitopsd::test
