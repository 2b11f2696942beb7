// The whole loop against a real Gitea (deploy/gitea/gitea.sh): a push to Gitea, Gitea's own
// signed webhook to the receiver, the worker's apply, and the notifier's commit statuses, read
// back through Gitea's API: `success` for the target that applied, `failure` for the one that
// failed. Skips, saying so, where Gitea is not built (CI sets GITOPSD_REQUIRE_GITEA=1, which
// makes that a failure).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <iostream>

#include "git_servers.hpp"
#include "harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

TEST(GiteaPipeline, APushToGiteaEndsWithEachTargetsCommitStatusOnGitea) {
  GiteaServer gitea;
  if (gitea.skip_reason()) {
    std::cerr << "*** GiteaPipeline SKIPPED: " << *gitea.skip_reason() << " ***\n";
    GTEST_SKIP() << *gitea.skip_reason();
  }
  const std::string full_name = gitea.create_repository("site");

  TempDir dir;
  const std::string secret = "gitea-webhook-secret-0123456789";
  const auto secret_file = dir.write("gitea.secret", secret + "\n");
  const auto token_file = dir.write("gitea.token", gitea.token() + "\n");
  ReceiverSetup setup = fresh_receiver_setup(kafka_bootstrap());
  const std::string repository =
      "  - name: site\n    provider: gitea\n    match: " + full_name + "\n    url: " +
      gitea.base_url() + "/" + full_name + ".git\n    secrets: [{file: " + secret_file +
      "}]\n    api: {url: \"" + gitea.base_url() + "/api/v1\", token_file: " + token_file +
      "}\n    targets:\n" +
      "      - {name: web, path: web, apply: {type: files, dest: " + dir.path() + "/web}}\n" +
      "      - {name: smoke, path: web, apply: {type: exec, command: [/bin/false]}}\n";
  setup.repositories_yaml = repository;
  auto receiver = start_receiver(dir, setup);

  // The worker's and the notifier's file: the receiver's topics and repository, and theirs.
  const std::string results = unique_name("results"), state = unique_name("state"),
                    dlq = unique_name("dlq"), statuses = unique_name("statuses");
  // As `gitopsctl init-topics` would have: a consumer learns of a topic made after it
  // subscribed only at its next metadata refresh, minutes later.
  for (const auto& topic : {results, state, dlq, statuses}) create_topic(setup.bootstrap, topic, 1);
  const int worker_admin = free_port(), notifier_admin = free_port();
  const auto config = dir.write(
      "full.yaml",
      "kafka:\n  brokers: \"" + setup.bootstrap + "\"\n  topics: {events: " + setup.events_topic +
          ", results: " + results + ", state: " + state + ", dlq: " + dlq + ", statuses: " +
          statuses + "}\n" +
          "worker:\n  group_id: " + unique_name("workers") + "\n  state_dir: " + dir.path() +
          "/state\n  admin_listen: \"127.0.0.1:" + std::to_string(worker_admin) +
          "\"\n  max_attempts: 1\n  resync_interval: 7d\n" +
          "notify:\n  group_id: " + unique_name("notifiers") + "\n  admin_listen: \"127.0.0.1:" +
          std::to_string(notifier_admin) + "\"\n" + "repositories:\n" + repository);
  Process worker({GITOPSD_WORKER_BIN, "--config", config}, dir.path() + "/worker.log");
  Process notifier({GITOPSD_NOTIFIER_BIN, "--config", config}, dir.path() + "/notifier.log");
  for (int port : {worker_admin, notifier_admin}) {
    ASSERT_TRUE(wait_until(
        [&] {
          try {
            return http_request(port, "GET", "/readyz", {}, "", 1s).status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        60s, 100ms))
        << worker.log() << notifier.log();
  }

  gitea.add_push_webhook(full_name,
                         "http://127.0.0.1:" + std::to_string(setup.port) + "/hooks/gitea", secret,
                         "main");
  GitRepoFixture work("site");
  work.write("web/index.html", "<h1>deployed by gitopsd</h1>\n");
  const std::string sha = work.commit("first");
  const auto pushed = std::chrono::steady_clock::now();
  work.git({"push", gitea.push_url(full_name), "HEAD:refs/heads/main"});

  // Gitea's combined status: the latest of each context. (Its list of all statuses is sorted
  // by time in whole seconds, so a pending and its success set within one second come in
  // either order.)
  auto latest = [&](const std::string& context) -> std::string {
    auto answer = gitea.api("GET", "/repos/" + full_name + "/commits/" + sha + "/status");
    if (answer.status != 200) return "";
    boost::system::error_code ec;
    auto combined = boost::json::parse(answer.body, ec);
    const auto* latest_each =
        ec || !combined.is_object() ? nullptr : combined.as_object().if_contains("statuses");
    if (!latest_each || !latest_each->is_array()) return "";  // null until the first status
    for (const auto& s : latest_each->as_array()) {
      if (s.at("context") == context.c_str()) {
        const auto& o = s.as_object();
        const auto* word = o.contains("status") ? o.if_contains("status") : o.if_contains("state");
        return word && word->is_string() ? std::string(word->as_string()) : "";
      }
    }
    return "";
  };
  ASSERT_TRUE(wait_until(
      [&] { return latest("gitopsd/web") == "success" && latest("gitopsd/smoke") == "failure"; },
      120s, 250ms))
      << "web=" << latest("gitopsd/web") << " smoke=" << latest("gitopsd/smoke") << "\n"
      << receiver->log() << worker.log() << notifier.log();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - pushed);
  EXPECT_EQ(file_contents(dir.path() + "/web/index.html"), "<h1>deployed by gitopsd</h1>\n");
  bool pending_seen = false;
  for (const auto& s : gitea.commit_statuses(full_name, sha)) pending_seen |= s.state == "pending";
  EXPECT_TRUE(pending_seen) << "the event's pending came before the results";
  EXPECT_EQ(notifier.log().find(gitea.token()), std::string::npos);
  std::cout << "[ figures ] Gitea push to both statuses visible: " << took.count() << " ms\n";
}

}  // namespace
}  // namespace gitopsd::test
