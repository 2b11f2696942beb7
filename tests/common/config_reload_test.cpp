#include "gitopsd/config_reload.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <time.h>

#include <filesystem>
#include <fstream>

#include "notify_socket.hpp"

namespace gitopsd {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Repository repository(const std::string& name, const std::string& secret) {
  Repository r;
  r.name = name;
  r.match = "acme/" + name;
  r.url = "https://example.com/" + name + ".git";
  r.secrets = {Secret{secret, "file /s/" + name}};
  return r;
}

TEST(RestartOnlyChangesTest, NamesOnlyTheKeysTheDaemonTakesAtStart) {
  Config running;
  Config next = running;
  next.kafka.brokers = "kafka-2:9092";
  next.kafka.topics.state = "other.state";
  next.receiver.listen.port = 8081;
  next.receiver.max_body_bytes = 1024;  // taken by a reload
  next.worker.group_id = "other-group";
  next.worker.apply_timeout = std::chrono::minutes(1);  // taken by a reload
  next.repositories.push_back(repository("infra", "s"));
  next.log_level = "debug";

  EXPECT_THAT(restart_only_changes(running, next, DaemonKind::receiver),
              ElementsAre("kafka.brokers", "receiver.listen"));
  EXPECT_THAT(restart_only_changes(running, next, DaemonKind::worker),
              ElementsAre("kafka.brokers", "kafka.topics", "worker.group_id"));
  EXPECT_THAT(restart_only_changes(running, running, DaemonKind::worker), IsEmpty());
}

TEST(RestartOnlyChangesTest, KeepsTheRunningValuesOfRestartOnlyKeysAndTakesTheRest) {
  Config running;
  running.receiver.threads = 4;
  Config next = running;
  next.kafka.properties["sasl.mechanism"] = "PLAIN";
  next.receiver.threads = 8;
  next.receiver.dedupe_window = std::chrono::minutes(5);
  next.receiver.idle_timeout = std::chrono::seconds(5);
  next.repositories.push_back(repository("infra", "s"));

  const Config kept = keep_restart_only(running, next, DaemonKind::receiver);
  EXPECT_TRUE(kept.kafka.properties.empty());
  EXPECT_EQ(kept.receiver.threads, 4u);
  EXPECT_EQ(kept.receiver.dedupe_window, running.receiver.dedupe_window);
  EXPECT_EQ(kept.receiver.idle_timeout, std::chrono::seconds(5));
  EXPECT_EQ(kept.repositories, next.repositories);
  EXPECT_THAT(restart_only_changes(running, kept, DaemonKind::receiver), IsEmpty());
}

TEST(RepositoryChangesTest, TellsAddedRemovedAndChangedByName) {
  Config running, next;
  running.repositories = {repository("infra", "old"), repository("web", "w"), repository("gone", "g")};
  next.repositories = {repository("infra", "new"), repository("web", "w"), repository("apps", "a")};
  const RepositoryChanges changes = repository_changes(running, next);
  EXPECT_THAT(changes.added, ElementsAre("apps"));
  EXPECT_THAT(changes.removed, ElementsAre("gone"));
  EXPECT_THAT(changes.changed, ElementsAre("infra"));  // a rotated secret is a change
}

class ConfigReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "gitopsd-reload-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    write("secret", "hook-secret\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  std::string config_with(const std::string& receiver_yaml) {
    return "receiver:\n" + receiver_yaml + "repositories:\n  - {name: infra, provider: github, match: acme/infra, "
           "url: \"https://example.com/infra.git\", secrets: [{file: " + dir_ + "/secret}]}\n";
  }
  double gauge() { return metrics_.gauge("gitopsd_config_last_reload_success", "").value(); }
  std::uint64_t reloads(const std::string& outcome) {
    return metrics_.counter("gitopsd_config_reloads_total", "", {{"outcome", outcome}}).value();
  }

  std::string dir_;
  Metrics metrics_;
};

TEST_F(ConfigReloaderTest, InstallsAValidFileAndKeepsTheRunningConfigOnAnInvalidOne) {
  const std::string path = write("gitopsd.yaml", config_with("  listen: \"127.0.0.1:8080\"\n"));
  ConfigReloader reloader(std::make_shared<const Config>(load_config(path)), BrokerUse::any,
                          DaemonKind::receiver, metrics_, std::nullopt);
  const auto initial = reloader.running();
  EXPECT_EQ(gauge(), 1) << "no alert before the first reload";

  std::shared_ptr<const Config> installed;
  auto install = [&](std::shared_ptr<const Config> c) { installed = std::move(c); };
  write("gitopsd.yaml", config_with("  listen: \"127.0.0.1:9090\"\n  body_timeout: 7s\n"));
  write("secret", "rotated\n");
  ASSERT_TRUE(reloader.reload(install));
  ASSERT_TRUE(installed);
  EXPECT_EQ(reloader.running(), installed);
  EXPECT_EQ(installed->receiver.body_timeout, std::chrono::seconds(7));
  EXPECT_EQ(installed->receiver.listen.port, 8080) << "restart-only: the running value stays";
  EXPECT_EQ(installed->repositories.at(0).secrets.at(0).value, "rotated");
  EXPECT_EQ(reloads("ok"), 1u);

  installed = nullptr;
  write("gitopsd.yaml", "receiver: {body_timeout: forever}\n");
  EXPECT_FALSE(reloader.reload(install));
  EXPECT_FALSE(installed) << "nothing handed over";
  EXPECT_EQ(reloader.running()->receiver.body_timeout, std::chrono::seconds(7));
  EXPECT_EQ(reloads("failed"), 1u);
  EXPECT_EQ(gauge(), 0);
  EXPECT_NE(reloader.running(), initial);
}

TEST_F(ConfigReloaderTest, AConfigRefusedByTheDaemonIsAFailedReload) {
  const std::string path = write("gitopsd.yaml", config_with("  body_timeout: 5s\n"));
  ConfigReloader reloader(std::make_shared<const Config>(load_config(path)), BrokerUse::any,
                          DaemonKind::receiver, metrics_, std::nullopt);
  const auto initial = reloader.running();
  write("gitopsd.yaml", config_with("  body_timeout: 6s\n"));
  EXPECT_FALSE(reloader.reload([](std::shared_ptr<const Config>) {
    throw std::runtime_error("use_private_key_file: no such file");
  }));
  EXPECT_EQ(reloader.running(), initial);
  EXPECT_EQ(reloads("failed"), 1u);
  EXPECT_EQ(gauge(), 0);
}

// CLOCK_MONOTONIC in microseconds, the clock systemd compares MONOTONIC_USEC= with.
std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000 +
         static_cast<std::uint64_t>(now.tv_nsec) / 1000;
}

TEST_F(ConfigReloaderTest, TellsSystemdReloadingNowThenReadyWithAStatusThatNamesAFailure) {
  using namespace std::chrono_literals;
  test::NotifySocket notify(dir_ + "/notify");
  ::setenv("NOTIFY_SOCKET", notify.path().c_str(), 1);
  const std::string path = write("gitopsd.yaml", config_with("  body_timeout: 5s\n"));
  ConfigReloader reloader(std::make_shared<const Config>(load_config(path)), BrokerUse::any,
                          DaemonKind::receiver, metrics_, std::nullopt);
  auto noop = [](std::shared_ptr<const Config>) {};
  // The reload's messages: RELOADING=1 stamped between `before` and `after` (Type=notify-reload
  // takes it only with a timestamp no older than its SIGHUP), then READY=1 with a status.
  auto expect_reload = [&](std::uint64_t before, std::uint64_t after, const std::string& ready) {
    auto reloading = notify.receive(2s);
    ASSERT_TRUE(reloading);
    const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
    ASSERT_EQ(reloading->text.substr(0, prefix.size()), prefix) << reloading->text;
    const std::uint64_t usec = std::stoull(reloading->text.substr(prefix.size()));
    EXPECT_GE(usec, before);
    EXPECT_LE(usec, after);
    auto done = notify.receive(2s);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->text, ready);
    EXPECT_FALSE(notify.receive(0ms)) << "two messages per reload";
  };

  write("gitopsd.yaml", "receiver: {body_timeout: forever}\n");
  std::uint64_t before = monotonic_usec();
  EXPECT_FALSE(reloader.reload(noop));
  expect_reload(before, monotonic_usec(),
                "READY=1\nSTATUS=config reload failed, the running config stays in force: " +
                    path + ":1:26: receiver.body_timeout: invalid duration 'forever': expected a " +
                    "number and a unit, like 1h30m");

  // A reload that takes effect clears the failure from `systemctl status`.
  write("gitopsd.yaml", config_with("  body_timeout: 6s\n"));
  before = monotonic_usec();
  EXPECT_TRUE(reloader.reload(noop));
  expect_reload(before, monotonic_usec(), "READY=1\nSTATUS=");
  ::unsetenv("NOTIFY_SOCKET");
}

TEST_F(ConfigReloaderTest, LogLevelFollowsTheFileUnlessGivenOnTheCommandLine) {
  const std::string path = write("gitopsd.yaml", "log_level: info\n");
  ConfigReloader follows(std::make_shared<const Config>(load_config(path)), BrokerUse::any,
                         DaemonKind::worker, metrics_, std::nullopt);
  write("gitopsd.yaml", "log_level: error\n");
  ASSERT_TRUE(follows.reload([](std::shared_ptr<const Config>) {}));
  EXPECT_EQ(spdlog::get_level(), spdlog::level::err);

  ConfigReloader pinned(std::make_shared<const Config>(load_config(path)), BrokerUse::any,
                        DaemonKind::worker, metrics_, "debug");
  write("gitopsd.yaml", "log_level: critical\n");
  ASSERT_TRUE(pinned.reload([](std::shared_ptr<const Config>) {}));
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  spdlog::set_level(spdlog::level::info);
}

}  // namespace
}  // namespace gitopsd
