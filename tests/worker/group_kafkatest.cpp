// Two gitopsd-worker processes in one consumer group, under gitopsd's own consumer settings
// (no session timeout set in the test): every repository is applied by exactly one of them;
// when one dies the other takes over its repositories; and gitopsd-worker@N restarted at once
// gets its partitions back without the other worker taking part in a rebalance.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <algorithm>
#include <set>

#include <librdkafka/rdkafka.h>

#include "payloads.hpp"
#include "git_servers.hpp"
#include "harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

namespace json = boost::json;
constexpr const char* kSecret = "group-secret";
constexpr int kRepositories = 4;

class WorkerGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.write("secret", kSecret);
    // Names whose events land in four different partitions (librdkafka's default partitioner,
    // as the receiver uses), so both workers get work whichever two partitions each owns.
    std::set<std::int32_t> partitions_used;
    for (int i = 0; repos_.size() < kRepositories; ++i) {
      auto name = "repo" + std::to_string(i);
      auto p = rd_kafka_msg_partitioner_consistent(nullptr, name.data(), name.size(), kRepositories,
                                                   nullptr, nullptr);
      if (!partitions_used.insert(p).second) continue;
      repos_.push_back(std::make_unique<GitRepoFixture>(name));
      repos_.back()->write("site/index.html", "v1 of " + name + "\n");
      repos_.back()->commit("first");
      repos_.back()->push();
    }
    setup_ = {.bootstrap = kafka_bootstrap(), .events_topic = unique_name("events"),
              .port = free_port(), .admin_port = free_port(),
              .extra_receiver_yaml = "  publish_timeout: 10s\n", .repositories_yaml = ""};
    for (const auto& repo : repos_) {
      daemons_.push_back(std::make_unique<GitDaemon>(repo->served_root()));
      const auto& name = repo->name();
      setup_.repositories_yaml += "  - {name: " + name + ", provider: github, match: acme/" + name +
                                  ", url: \"" + daemons_.back()->url(name) + "\", secrets: [{file: " +
                                  dir_.path() + "/secret}], targets: [{name: site, path: site, "
                                  "apply: {type: files, dest: " + dir_.path() + "/dest-" + name + "}}]}\n";
    }
    create_topic(setup_.bootstrap, setup_.events_topic, kRepositories);
    receiver_ = start_receiver(dir_, setup_);
    config_ = receiver_config_yaml(setup_);
    const std::string events = "topics: {events: " + setup_.events_topic + "}";
    config_.replace(config_.find(events), events.size(),
                    "topics: {events: " + setup_.events_topic + ", results: " + results_topic_ +
                        ", state: " + unique_name("state") + ", dlq: " + unique_name("dlq") + "}");
    results_ = std::make_unique<TopicReader>(setup_.bootstrap, results_topic_);
  }

  // A worker config on this test's topics and group; `admin_port` is admin_listen's.
  std::string write_worker_config(const std::string& name, int admin_port) {
    return dir_.write(name + ".yaml", config_ + "worker:\n  group_id: " + group_ + "\n  state_dir: " +
                                          dir_.path() + "/" + name + "-state\n  admin_listen: \"127.0.0.1:" +
                                          std::to_string(admin_port) + "\"\n  resync_interval: 7d\n");
  }

  std::unique_ptr<Process> start_worker(const std::string& config, const std::string& log,
                                        std::vector<std::string> extra_args = {}) {
    std::vector<std::string> argv{GITOPSD_WORKER_BIN, "--config", config};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    return std::make_unique<Process>(argv, dir_.path() + "/" + log + ".log");
  }

  // The coordinator's split is two partitions each. ("assigned" is logged for each step of a
  // cooperative rebalance, the newcomer's first one empty: the group's description is final.)
  bool wait_for_even_split() {
    return wait_until([&] {
      auto members = group_assignments(setup_.bootstrap, group_);
      std::sort(members.begin(), members.end());
      return members == std::vector<int>{2, 2};
    }, 60s);
  }

  // Pushes a new commit to every repository and sends its webhook; the new heads by repository.
  std::map<std::string, std::string> push_round(const std::string& content) {
    std::map<std::string, std::string> heads;
    for (auto& repo : repos_) {
      const std::string before = repo->rev_parse("HEAD");
      repo->write("site/index.html", content + " of " + repo->name() + "\n");
      heads[repo->name()] = repo->commit(content);
      repo->push();
      auto d = github_delivery("push", github_push("acme/" + repo->name(), "main", before, heads[repo->name()]),
                               kSecret, unique_name("delivery"));
      std::map<std::string, std::string> headers(d.headers.begin(), d.headers.end());
      EXPECT_EQ(http_request(setup_.port, "POST", d.path, headers, d.body).status, 202);
    }
    return heads;
  }

  // Waits until each repository's head is applied; who applied it (worker id, "host:pid"), by
  // repository, or fewer entries when `timeout` passed first. A repository applied twice at
  // its head (by two workers) fails the test.
  std::map<std::string, std::string> wait_applied(const std::map<std::string, std::string>& heads,
                                                  std::chrono::milliseconds timeout) {
    std::map<std::string, std::string> applied_by;
    wait_until([&] {
      auto records = results_->read(seen_ + 1, 1s);
      for (; seen_ < records.size(); ++seen_) {
        auto v = json::parse(records[seen_].value).as_object();
        const std::string repo = v["repository"].as_string().c_str();
        if (v["status"] != "applied" || v["commit"] != heads.at(repo).c_str()) continue;
        EXPECT_TRUE(applied_by.emplace(repo, v["worker"].as_string().c_str()).second)
            << "applied twice: " << records[seen_].value;
      }
      return applied_by.size() == heads.size();
    }, timeout);
    return applied_by;
  }

  static bool is_process(const std::string& worker_id, const Process& p) {
    return worker_id.ends_with(":" + std::to_string(p.pid()));
  }

  // The repositories `p` applied in `applied_by`.
  static std::set<std::string> repositories_of(const std::map<std::string, std::string>& applied_by,
                                               const Process& p) {
    std::set<std::string> repositories;
    for (const auto& [repo, worker] : applied_by)
      if (is_process(worker, p)) repositories.insert(repo);
    return repositories;
  }

  TempDir dir_;
  std::vector<std::unique_ptr<GitRepoFixture>> repos_;
  std::vector<std::unique_ptr<GitDaemon>> daemons_;
  ReceiverSetup setup_;
  std::unique_ptr<Process> receiver_;
  std::string config_;  // kafka and receiver sections, with this test's topics
  std::string results_topic_ = unique_name("results");
  std::string group_ = unique_name("group");
  std::unique_ptr<TopicReader> results_;
  std::size_t seen_ = 0;  // results records already looked at
};

TEST_F(WorkerGroupTest, EachRepositoryIsAppliedByOneWorkerAndTheSurvivorTakesOver) {
  std::vector<std::unique_ptr<Process>> workers;
  for (int w = 0; w < 2; ++w) {
    const auto name = "worker" + std::to_string(w);
    workers.push_back(start_worker(write_worker_config(name, free_port()), name));
  }
  ASSERT_TRUE(wait_for_even_split()) << workers[0]->log() << workers[1]->log();

  auto first = wait_applied(push_round("v1"), 60s);
  ASSERT_EQ(first.size(), static_cast<std::size_t>(kRepositories)) << workers[0]->log() << workers[1]->log();
  EXPECT_EQ(repositories_of(first, *workers[0]).size() + repositories_of(first, *workers[1]).size(),
            static_cast<std::size_t>(kRepositories));
  EXPECT_FALSE(repositories_of(first, *workers[0]).empty()) << "the group should share the partitions";
  EXPECT_FALSE(repositories_of(first, *workers[1]).empty()) << "the group should share the partitions";

  workers[0]->signal(SIGKILL);
  workers[0]->wait(10s);
  // Every repository ends on its new commit, applied by the survivor. (Events the killed
  // worker had not committed yet are redelivered too: at least once; they are superseded.)
  // The bound is generous (the default session timeout, 10 s, plus a rebalance takes about
  // 12 s: bench/rebalance.py), but below librdkafka's own 45 s plus a rebalance.
  auto second = wait_applied(push_round("v2"), 40s);
  ASSERT_EQ(second.size(), static_cast<std::size_t>(kRepositories)) << workers[1]->log();
  EXPECT_EQ(repositories_of(second, *workers[1]).size(), static_cast<std::size_t>(kRepositories))
      << "the killed worker cannot have applied anything";
}

TEST_F(WorkerGroupTest, RestartedInstanceGetsItsPartitionsBackWithoutARebalance) {
  // gitopsd-worker@1 and @2 on one host: one config, admin ports base and base + 1.
  const int base = free_port_range(2);
  const auto config = write_worker_config("instances", base);
  auto first = start_worker(config, "instance1", {"--instance", "1"});
  auto second = start_worker(config, "instance2", {"--instance", "2"});
  ASSERT_TRUE(wait_for_even_split()) << first->log() << second->log();
  auto before = wait_applied(push_round("v1"), 60s);
  ASSERT_EQ(before.size(), static_cast<std::size_t>(kRepositories)) << first->log() << second->log();
  const auto owned_by_second = repositories_of(before, *second);
  ASSERT_EQ(owned_by_second.size(), 2u);

  const auto rebalance_steps = [&] {
    const auto page = http_request(base, "GET", "/metrics", {}, "").body;
    return metric_value(page, R"(gitopsd_consumer_rebalances_total{change="assigned"})") +
           std::max(0.0, metric_value(page, R"(gitopsd_consumer_rebalances_total{change="revoked"})"));
  };
  const double steps_before = rebalance_steps();

  second->signal(SIGKILL);
  second->wait(10s);
  auto restarted = start_worker(config, "instance2-restarted", {"--instance", "2"});
  // The same static member (group.instance.id "<host>-2") is back: the coordinator hands it
  // its old assignment, so it applies the same repositories, and the first instance, which
  // never left, is not asked to rejoin. (A dynamic member would join as a stranger: the group
  // rebalances once the dead member's session has expired, and the first instance takes part.)
  const auto v2 = push_round("v2");
  auto after = wait_applied(v2, 60s);
  ASSERT_EQ(after.size(), static_cast<std::size_t>(kRepositories)) << first->log() << restarted->log();
  EXPECT_EQ(repositories_of(after, *restarted), owned_by_second) << restarted->log();
  EXPECT_EQ(repositories_of(after, *first), repositories_of(before, *first));
  EXPECT_EQ(rebalance_steps(), steps_before) << first->log();

  // SIGTERM: the worker finishes and commits, but does not leave the group (static members
  // never do), so its partitions wait for it, and it comes back to them.
  restarted->signal(SIGTERM);
  EXPECT_EQ(restarted->wait(40s), std::optional<int>(0)) << restarted->log();
  // The v2 events, by the event ids of their results.
  std::set<std::string> v2_events;
  const std::size_t results_before_restart = results_->read_to_end().size();
  for (const auto& record : results_->read_to_end()) {
    auto v = json::parse(record.value).as_object();
    if (v["commit"] == v2.at(v["repository"].as_string().c_str()).c_str())
      v2_events.insert(v["event_id"].as_string().c_str());
  }
  auto again = start_worker(config, "instance2-again", {"--instance", "2"});
  auto last = wait_applied(push_round("v3"), 60s);
  ASSERT_EQ(last.size(), static_cast<std::size_t>(kRepositories)) << again->log();
  EXPECT_EQ(repositories_of(last, *again), owned_by_second) << again->log();
  EXPECT_EQ(rebalance_steps(), steps_before) << first->log();
  // Its offsets were committed at the stop: no v2 event is redelivered to it (it would be
  // reported again, superseded or unchanged).
  const auto records = results_->read_to_end();
  for (std::size_t i = results_before_restart; i < records.size(); ++i) {
    auto v = json::parse(records[i].value).as_object();
    EXPECT_FALSE(v2_events.contains(v["event_id"].as_string().c_str())) << records[i].value;
  }
}

// A second gitopsd-worker --instance 1 on the host (run by hand next to the unit, with its own
// admin port) takes over the static membership. The first one's consumer is fenced, which is
// fatal to it (as after a session that timed out while the coordinator was unreachable,
// librdkafka #3437): it must end with status 1 and say why, so systemd starts it afresh,
// instead of staying up consuming nothing.
TEST_F(WorkerGroupTest, FencedStaticMemberEndsWithStatusOneAndSaysWhy) {
  auto first = start_worker(write_worker_config("first", free_port()), "first", {"--instance", "1"});
  ASSERT_TRUE(wait_until([&] { return group_assignments(setup_.bootstrap, group_) == std::vector<int>{kRepositories}; },
                         60s)) << first->log();
  auto second = start_worker(write_worker_config("second", free_port()), "second", {"--instance", "1"});
  EXPECT_EQ(first->wait(60s), std::optional<int>(1)) << first->log();
  EXPECT_THAT(first->log(), ::testing::HasSubstr("the Kafka consumer failed for good"));
  EXPECT_THAT(first->log(), ::testing::HasSubstr("fenced"));
  // The one that fenced it works: every repository is applied by it.
  auto applied = wait_applied(push_round("v1"), 60s);
  ASSERT_EQ(applied.size(), static_cast<std::size_t>(kRepositories)) << second->log();
  EXPECT_EQ(repositories_of(applied, *second).size(), static_cast<std::size_t>(kRepositories));
}

}  // namespace
}  // namespace gitopsd::test
