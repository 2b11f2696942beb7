// `gitopsctl sign --send` against the real receiver and broker: a newcomer's first webhook.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "payloads.hpp"
#include "harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

TEST(GitopsctlSignTest, SendsASignedWebhookThatTheReceiverQueues) {
  TempDir dir;
  auto secret = dir.write("secret", "ctl-secret\n");
  ReceiverSetup setup = fresh_receiver_setup(kafka_bootstrap());
  setup.extra_receiver_yaml = "  publish_timeout: 10s\n";
  setup.repositories_yaml = github_infra_yaml(secret);
  auto receiver = start_receiver(dir, setup);
  auto body = dir.write("push.json", github_push("acme/infra", "main", kShaA, kShaB));
  auto url = "http://127.0.0.1:" + std::to_string(setup.port) + "/hooks/github";

  Process sent({GITOPSCTL_BIN, "sign", "--secret-file", secret, "--provider", "github", "--send", url, body},
               dir.path() + "/ctl.log");
  ASSERT_EQ(sent.wait(30s), std::optional<int>(0)) << sent.log();
  EXPECT_EQ(sent.log().rfind("202 ", 0), 0u) << sent.log();

  TopicReader reader(setup.bootstrap, setup.events_topic);
  auto records = reader.read(1, 30s);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(boost::json::parse(records[0].value).at("after"), kShaB.c_str());

  // The wrong secret is refused and the command says so with a non-zero exit.
  auto wrong = dir.write("wrong", "not-the-secret");
  Process refused({GITOPSCTL_BIN, "sign", "--secret-file", wrong, "--provider", "github", "--send", url, body},
                  dir.path() + "/ctl-wrong.log");
  EXPECT_EQ(refused.wait(30s), std::optional<int>(1)) << refused.log();
  EXPECT_EQ(refused.log().rfind("401 ", 0), 0u) << refused.log();
}

}  // namespace
}  // namespace gitopsd::test
