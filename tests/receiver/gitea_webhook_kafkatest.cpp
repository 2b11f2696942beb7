// A real push to a real Gitea (deploy/gitea/gitea.sh), Gitea's own webhook to the receiver on
// 127.0.0.1, and the event on Kafka: the first leg of the commit-status flow, and proof that
// Gitea delivers to loopback (ALLOWED_HOST_LIST) and signs as the receiver verifies.
// Skips, saying so, where Gitea is not built.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "git_servers.hpp"
#include "harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

TEST(GiteaWebhook, PushReachesTheReceiverSignedAndAWrongSecretIsRefused) {
  GiteaServer gitea;
  if (gitea.skip_reason()) GTEST_SKIP() << *gitea.skip_reason();  // CI forbids it: GITOPSD_REQUIRE_GITEA
  const std::string full_name = gitea.create_repository("infra");

  TempDir dir;
  const std::string secret = "gitea-webhook-secret-0123456789";
  const auto secret_file = dir.write("gitea.secret", secret + "\n");
  ReceiverSetup setup = fresh_receiver_setup(kafka_bootstrap());
  setup.repositories_yaml = "  - {name: infra, provider: gitea, match: " + full_name + ", url: " +
                            gitea.base_url() + "/" + full_name + ".git,\n" +
                            "     secrets: [{file: " + secret_file + "}], targets: []}\n";
  auto receiver = start_receiver(dir, setup);
  const std::string hooks = "http://127.0.0.1:" + std::to_string(setup.port) + "/hooks/gitea";
  gitea.add_push_webhook(full_name, hooks, secret, "main");
  // Same push, another secret: the receiver must refuse it, so the accepted one was verified.
  gitea.add_push_webhook(full_name, hooks, "not-the-secret-0123456789", "main");

  GitRepoFixture work("infra");
  work.write("README.md", "hello from gitopsd's Gitea test\n");
  const std::string sha = work.commit("first");
  work.git({"push", gitea.push_url(full_name), "HEAD:refs/heads/main"});

  // Gitea delivers from a queue after the push returns: both arrive within seconds.
  // Only a genuine request's event is a label (webhook_counters.cpp): a refused one has "".
  auto metrics = [&] { return http_request(setup.admin_port, "GET", "/metrics", {}, "").body; };
  auto count = [&](const std::string& event, const std::string& outcome) {
    const double value = metric_value(
        metrics(), "gitopsd_webhooks_total{provider=\"gitea\",event=\"" + event + "\",outcome=\"" + outcome + "\"}");
    return value < 0 ? 0.0 : value;  // -1: no such series yet
  };
  ASSERT_TRUE(wait_until([&] { return count("push", "queued") + count("", "unauthorized") >= 2; }, 60s, 200ms))
      << metrics() << receiver->log();
  EXPECT_EQ(count("push", "queued"), 1) << metrics();
  EXPECT_EQ(count("", "unauthorized"), 1) << metrics();

  TopicReader reader(setup.bootstrap, setup.events_topic);
  const auto records = reader.read_to_end();
  ASSERT_EQ(records.size(), 1u) << receiver->log();
  const auto event = json::parse(records[0].value);
  EXPECT_EQ(event.at("provider"), "gitea");
  EXPECT_EQ(event.at("repository"), "infra");
  EXPECT_EQ(event.at("branch"), "main");
  EXPECT_EQ(event.at("after"), sha.c_str());
}

}  // namespace
}  // namespace gitopsd::test
