// gitopsd-worker@N instances share one state_dir. Started at the same moment, again and again,
// with work waiting for every repository, none may fail on another's files (git's
// config.lock when two create one mirror, ref locks when two fetch into it), and no two may
// apply one target at the same time.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "gitopsd/crypto.hpp"
#include "gitopsd/event.hpp"
#include "git_servers.hpp"
#include "harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr int kRepositories = 6;
constexpr int kWorkers = 4;
constexpr int kRounds = 3;

std::string push_event(const GitRepoFixture& repo, const std::string& url, const std::string& after) {
  Event e;
  e.event_id = random_uuid();
  e.delivery_id = unique_name("delivery");
  e.received_at = format_timestamp(std::chrono::system_clock::now());
  e.repository = repo.name();
  e.full_name = "acme/" + repo.name();
  e.clone_url = url;
  e.branch = "main";
  e.before = std::string(40, '0');
  e.after = after;
  e.sender = "octocat";
  return to_json(e);
}

TEST(SharedStateDirTest, WorkersStartedTogetherNeverCollideOnTheirFiles) {
  TempDir dir;
  dir.write("secret", "shared-state-secret");
  std::vector<std::unique_ptr<GitRepoFixture>> repos;
  std::vector<std::unique_ptr<GitDaemon>> daemons;
  std::string repositories_yaml;
  for (int i = 0; i < kRepositories; ++i) {
    repos.push_back(std::make_unique<GitRepoFixture>("repo" + std::to_string(i)));
    daemons.push_back(std::make_unique<GitDaemon>(repos.back()->served_root()));
    const std::string name = repos.back()->name();
    repositories_yaml += "  - {name: " + name + ", provider: github, match: acme/" + name +
                         ", url: \"" + daemons.back()->url(name) + "\", secrets: [{file: " + dir.path() + "/secret}], " +
                         "targets: [{name: site, path: site, apply: {type: files, dest: " +
                         dir.path() + "/dest-" + name + "}}]}\n";
  }
  const std::string bootstrap = kafka_bootstrap();
  const std::string events = unique_name("events");
  const std::string results_topic = unique_name("results");
  create_topic(bootstrap, events, kRepositories);
  const int admin = free_port_range(kWorkers);
  const auto config = dir.write(
      "gitopsd.yaml",
      "kafka:\n  brokers: \"" + bootstrap + "\"\n  topics: {events: " + events + ", results: " +
          results_topic + ", state: " + unique_name("state") + ", dlq: " + unique_name("dlq") +
          "}\n  properties: {session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\"}\n"
          "worker:\n  group_id: " + unique_name("group") + "\n  state_dir: " + dir.path() +
          "/state\n  admin_listen: \"127.0.0.1:" + std::to_string(admin) +
          "\"\n  resync_interval: 7d\nrepositories:\n" + repositories_yaml);
  TopicReader results(bootstrap, results_topic);
  std::size_t seen = 0;
  // Apply intervals per target, across every round: [started_at, finished_at].
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> applies;

  for (int round = 1; round <= kRounds; ++round) {
    std::map<std::string, std::string> heads;
    for (auto& repo : repos) {
      repo->write("site/index.html", "round " + std::to_string(round) + " of " + repo->name() + "\n");
      heads[repo->name()] = repo->commit("round " + std::to_string(round));
      repo->push();
    }
    for (int i = 0; i < kRepositories; ++i) {
      produce_record(bootstrap, events, repos[i]->name(),
                     push_event(*repos[i], daemons[i]->url(repos[i]->name()), heads[repos[i]->name()]));
    }
    std::vector<std::unique_ptr<Process>> workers;
    for (int w = 1; w <= kWorkers; ++w) {
      workers.push_back(std::make_unique<Process>(
          std::vector<std::string>{GITOPSD_WORKER_BIN, "--config", config, "--instance", std::to_string(w)},
          dir.path() + "/round" + std::to_string(round) + "-worker" + std::to_string(w) + ".log"));
    }
    auto logs = [&] {
      std::string all;
      for (auto& w : workers) all += w->log();
      return all;
    };
    std::set<std::string> done;
    const bool converged = wait_until([&] {
      auto records = results.read(seen + 1, 1s);
      for (; seen < records.size(); ++seen) {
        auto v = json::parse(records[seen].value).as_object();
        const std::string repo(v["repository"].as_string());
        if (v["status"] == "applied") {
          applies[repo].emplace_back(v["started_at"].as_string(), v["finished_at"].as_string());
          if (v["commit"] == heads[repo].c_str()) done.insert(repo);
        }
        EXPECT_NE(v["status"], "failed") << records[seen].value;
      }
      return done.size() == static_cast<std::size_t>(kRepositories);
    }, 120s);
    ASSERT_TRUE(converged) << "round " << round << "\n" << logs();
    for (auto& w : workers) {
      EXPECT_TRUE(w->running()) << "round " << round << ": a worker ended\n" << logs();
    }
    EXPECT_EQ(logs().find("cannot open mirror"), std::string::npos) << logs();
    EXPECT_EQ(logs().find(".lock"), std::string::npos) << logs();
    for (auto& w : workers) w->terminate(40s);
  }

  for (auto& [repo, intervals] : applies) {
    std::sort(intervals.begin(), intervals.end());
    for (std::size_t i = 1; i < intervals.size(); ++i) {
      EXPECT_LE(intervals[i - 1].second, intervals[i].first)
          << repo << ": two applies overlap: [" << intervals[i - 1].first << ", "
          << intervals[i - 1].second << "] and [" << intervals[i].first << ", "
          << intervals[i].second << "]";
    }
  }
}

}  // namespace
}  // namespace gitopsd::test
