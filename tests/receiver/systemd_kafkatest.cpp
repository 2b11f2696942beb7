// gitopsd-receiver under a service manager: the real binary with NOTIFY_SOCKET pointing at a
// datagram socket this test owns (as systemd does for Type=notify with WatchdogSec=).
#include <gtest/gtest.h>
#include <signal.h>

#include "git_servers.hpp"
#include "harness.hpp"
#include "notify_socket.hpp"
#include "payloads.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

// A receiver config on free ports and the socket systemd would listen on.
class ReceiverSystemdTest : public ::testing::Test {
 protected:
  ReceiverSystemdTest() {
    dir.write("secret", "systemd-secret");
    setup.repositories_yaml = "  - {name: infra, provider: github, match: acme/infra, url: "
                              "\"https://example.invalid/infra.git\", secrets: [{file: " +
                              dir.path() + "/secret}], targets: []}\n";
    config = dir.write("gitopsd.yaml", receiver_config_yaml(setup));
  }
  TempDir dir;
  ReceiverSetup setup = fresh_receiver_setup(kafka_bootstrap());
  std::string config;
  NotifySocket notify{dir.path() + "/notify"};
};

TEST_F(ReceiverSystemdTest, ReadyOnceListeningPingsTheWatchdogAndSaysStopping) {
  Process receiver({GITOPSD_RECEIVER_BIN, "--config", config}, dir.path() + "/receiver.log",
                   {{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "1000000"}});

  auto ready = notify.receive_skipping_pings(30s);
  ASSERT_TRUE(ready) << receiver.log();
  EXPECT_EQ(ready->text, "READY=1");
  // READY=1 means it takes requests: at this very moment both listeners answer.
  EXPECT_TRUE(port_accepts(setup.port));
  EXPECT_EQ(http_request(setup.port, "GET", "/hooks/github", {}, "", 5s).status, 405);
  EXPECT_EQ(http_request(setup.admin_port, "GET", "/healthz", {}, "", 5s).status, 200);

  // WATCHDOG_USEC=1s: a ping every 500 ms, never a gap that would let systemd fire.
  std::vector<NotifySocket::Clock::time_point> pings;
  const auto until = NotifySocket::Clock::now() + 3s;
  while (NotifySocket::Clock::now() < until) {
    auto m = notify.receive(1s);
    ASSERT_TRUE(m) << "no message for 1 s: the watchdog would fire\n" << receiver.log();
    ASSERT_EQ(m->text, "WATCHDOG=1");
    pings.push_back(m->at);
  }
  EXPECT_GE(pings.size(), 5u);
  for (std::size_t i = 1; i < pings.size(); ++i)
    EXPECT_LT(pings[i] - pings[i - 1], 1s) << "ping " << i;

  receiver.signal(SIGTERM);
  auto stopping = notify.receive_skipping_pings(10s);
  ASSERT_TRUE(stopping) << receiver.log();
  EXPECT_EQ(stopping->text, "STOPPING=1");
  EXPECT_EQ(receiver.wait(30s), 0) << receiver.log();
  while (auto m = notify.receive(0ms)) EXPECT_EQ(m->text, "WATCHDOG=1") << "after STOPPING=1";
}

TEST_F(ReceiverSystemdTest, NoWatchdogPingsWithoutWatchdogUsec) {
  Process receiver({GITOPSD_RECEIVER_BIN, "--config", config}, dir.path() + "/receiver.log",
                   {{"NOTIFY_SOCKET", notify.path()}});
  auto ready = notify.receive(30s);
  ASSERT_TRUE(ready) << receiver.log();
  EXPECT_EQ(ready->text, "READY=1");
  EXPECT_FALSE(notify.receive(1500ms)) << "no WATCHDOG_USEC, so no pings";
  receiver.terminate(10s);
}

TEST_F(ReceiverSystemdTest, SighupSaysReloadingThenReadyAndTakesTheNewConfig) {
  Process receiver({GITOPSD_RECEIVER_BIN, "--config", config}, dir.path() + "/receiver.log",
                   {{"NOTIFY_SOCKET", notify.path()}});
  ASSERT_EQ(notify.receive(30s).value_or(NotifySocket::Message{}).text, "READY=1") << receiver.log();

  // The same config with the repository gone: after the reload its webhooks are not ours.
  setup.repositories_yaml = "";
  dir.write("gitopsd.yaml", receiver_config_yaml(setup) + "  []\n");
  receiver.signal(SIGHUP);
  auto reloading = notify.receive(10s);
  ASSERT_TRUE(reloading) << receiver.log();
  // With the timestamp Type=notify-reload needs (ConfigReloaderTest checks its value).
  EXPECT_TRUE(reloading->text.starts_with("RELOADING=1\nMONOTONIC_USEC=")) << reloading->text;
  auto ready = notify.receive(10s);
  ASSERT_TRUE(ready) << receiver.log();
  EXPECT_EQ(ready->text, "READY=1\nSTATUS=") << "a reload that took effect: no failure to show";
  const std::string body = github_push("acme/infra", "main", kShaA, kShaB);
  EXPECT_EQ(http_request(setup.port, "POST", "/hooks/github",
                         {{"Content-Type", "application/json"},
                          {"X-GitHub-Event", "push"},
                          {"X-GitHub-Delivery", unique_name("delivery")},
                          {"X-Hub-Signature-256", github_signature("systemd-secret", body)}},
                         body, 10s)
                .status,
            401)
      << receiver.log();
  receiver.terminate(10s);
}

}  // namespace
}  // namespace gitopsd::test
