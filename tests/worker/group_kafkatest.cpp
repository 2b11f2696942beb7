// Two gitopsd-worker processes in one consumer group: every repository is applied by exactly
// one of them, and when one dies the other takes over its repositories.
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

TEST(WorkerGroupTest, EachRepositoryIsAppliedByOneWorkerAndTheSurvivorTakesOver) {
  TempDir dir;
  dir.write("secret", kSecret);
  std::vector<std::unique_ptr<GitRepoFixture>> repos;
  std::string repositories_yaml;
  std::unique_ptr<GitDaemon> daemon;
  TempDir served;
  // Names whose events land in four different partitions (librdkafka's default partitioner,
  // as the receiver uses), so both workers get work whichever two partitions each owns.
  std::vector<std::string> names;
  std::set<std::int32_t> partitions_used;
  for (int i = 0; names.size() < kRepositories; ++i) {
    auto name = "repo" + std::to_string(i);
    auto p = rd_kafka_msg_partitioner_consistent(nullptr, name.data(), name.size(), kRepositories, nullptr, nullptr);
    if (partitions_used.insert(p).second) names.push_back(name);
  }
  for (const auto& name : names) {
    repos.push_back(std::make_unique<GitRepoFixture>(name));
    repos.back()->write("site/index.html", "v1 of " + name + "\n");
    repos.back()->commit("first");
    repos.back()->push();
  }
  ReceiverSetup setup{.bootstrap = kafka_bootstrap(), .events_topic = unique_name("events"),
                      .port = free_port(), .admin_port = free_port(),
                      .extra_receiver_yaml = "  publish_timeout: 10s\n", .repositories_yaml = ""};
  std::vector<std::unique_ptr<GitDaemon>> daemons;
  for (int i = 0; i < kRepositories; ++i) {
    daemons.push_back(std::make_unique<GitDaemon>(repos[i]->served_root()));
    auto name = repos[i]->name();
    setup.repositories_yaml += "  - {name: " + name + ", provider: github, match: acme/" + name +
                               ", url: \"" + daemons[i]->url(name) + "\", secrets: [{file: " +
                               dir.path() + "/secret}], targets: [{name: site, path: site, apply: "
                               "{type: files, dest: " + dir.path() + "/dest-" + name + "}}]}\n";
  }
  create_topic(setup.bootstrap, setup.events_topic, kRepositories);
  auto results_topic = unique_name("results");
  auto receiver = start_receiver(dir, setup);
  auto config = receiver_config_yaml(setup);
  config.replace(config.find("topics: {events: " + setup.events_topic + "}"),
                 std::string("topics: {events: " + setup.events_topic + "}").size(),
                 "topics: {events: " + setup.events_topic + ", results: " + results_topic +
                     ", state: " + unique_name("state") + ", dlq: " + unique_name("dlq") +
                     "}\n  properties: {session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\"}");
  auto group = unique_name("group");
  std::vector<std::unique_ptr<Process>> workers;
  for (int w = 0; w < 2; ++w) {
    auto path = dir.write("worker" + std::to_string(w) + ".yaml",
                          config + "worker:\n  group_id: " + group + "\n  state_dir: " + dir.path() +
                              "/state" + std::to_string(w) + "\n  admin_listen: \"127.0.0.1:" +
                              std::to_string(free_port()) + "\"\n  resync_interval: 10m\n");
    workers.push_back(std::make_unique<Process>(std::vector<std::string>{GITOPSD_WORKER_BIN, "--config", path},
                                                dir.path() + "/worker" + std::to_string(w) + ".log"));
  }
  // Both members must have their share before the first round, or one takes everything.
  ASSERT_TRUE(wait_until([&] {
    return workers[0]->log().find("assigned partitions") != std::string::npos &&
           workers[1]->log().find("assigned partitions") != std::string::npos;
  }, 60s)) << workers[0]->log() << workers[1]->log();
  // "assigned" is logged for each step of a cooperative rebalance (the newcomer's first one is
  // empty): wait for the coordinator's final split, two partitions each.
  ASSERT_TRUE(wait_until([&] {
    auto members = group_assignments(setup.bootstrap, group);
    std::sort(members.begin(), members.end());
    return members == std::vector<int>{2, 2};
  }, 60s)) << workers[0]->log() << workers[1]->log();

  auto send_round = [&](const std::string& before) {
    for (auto& repo : repos) {
      auto after = repo->rev_parse("HEAD");
      auto d = github_delivery("push", github_push("acme/" + repo->name(), "main", before, after), kSecret,
                               unique_name("delivery"));
      std::map<std::string, std::string> headers(d.headers.begin(), d.headers.end());
      ASSERT_EQ(http_request(setup.port, "POST", d.path, headers, d.body).status, 202);
    }
  };
  TopicReader results(setup.bootstrap, results_topic);
  send_round(kZeroSha);
  auto first = results.read(kRepositories, 60s);
  ASSERT_EQ(first.size(), static_cast<std::size_t>(kRepositories)) << workers[0]->log() << workers[1]->log();
  std::map<std::string, std::string> owner;  // repository -> worker id
  std::set<std::string> workers_seen;
  for (const auto& r : first) {
    auto v = json::parse(r.value).as_object();
    EXPECT_EQ(v["status"], "applied") << v;
    EXPECT_TRUE(owner.emplace(v["repository"].as_string().c_str(), v["worker"].as_string().c_str()).second)
        << "applied twice: " << r.value;
    workers_seen.insert(v["worker"].as_string().c_str());
  }
  EXPECT_EQ(workers_seen.size(), 2u) << "the group should share the partitions";

  workers[0]->signal(SIGKILL);
  workers[0]->wait(10s);
  for (auto& repo : repos) {
    repo->write("site/index.html", "v2 of " + repo->name() + "\n");
    repo->commit("second");
    repo->push();
  }
  send_round(kShaA);
  // Every repository ends on its new commit, applied by the survivor. (Events the killed
  // worker had not committed yet are redelivered too: at least once; they are superseded.)
  std::set<std::string> survivors;
  std::map<std::string, std::string> heads;
  for (auto& repo : repos) heads[repo->name()] = repo->rev_parse("HEAD");
  std::set<std::string> done;
  std::size_t seen = kRepositories;
  ASSERT_TRUE(wait_until([&] {
    auto records = results.read(seen + 1, 1s);
    for (; seen < records.size(); ++seen) {
      auto v = json::parse(records[seen].value).as_object();
      std::string repo = v["repository"].as_string().c_str();
      if (v["status"] == "applied" && v["commit"] == heads[repo].c_str()) {
        survivors.insert(v["worker"].as_string().c_str());
        done.insert(repo);
      }
    }
    return done.size() == kRepositories;
  }, 90s)) << workers[1]->log();
  ASSERT_EQ(survivors.size(), 1u);
  EXPECT_FALSE(survivors.begin()->ends_with(":" + std::to_string(workers[0]->pid())))
      << "the killed worker cannot have applied anything";
}

}  // namespace
}  // namespace gitopsd::test
