// Several gitopsd-worker@N on one host read one config file: `--instance N` moves each
// one's admin endpoint to admin_listen's port + N - 1, so they start side by side.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

TEST(WorkerInstanceTest, InstancesOnOneConfigServeConsecutiveAdminPorts) {
  TempDir dir;
  const int base = free_port_range(2);
  auto config = dir.write(
      "gitopsd.yaml",
      "kafka:\n  brokers: \"" + kafka_bootstrap() + "\"\n  topics: {events: " + unique_name("events") +
          ", results: " + unique_name("results") + ", state: " + unique_name("state") +
          ", dlq: " + unique_name("dlq") + "}\n"
          "worker:\n  group_id: " + unique_name("group") + "\n  state_dir: " + dir.path() +
          "/state\n  admin_listen: \"127.0.0.1:" + std::to_string(base) + "\"\n"
          "repositories: []\n");
  auto worker = [&](const std::string& instance) {
    return std::make_unique<Process>(
        std::vector<std::string>{GITOPSD_WORKER_BIN, "--config", config, "--instance", instance},
        dir.path() + "/worker" + instance + ".log");
  };
  auto first = worker("1");
  auto second = worker("2");
  for (int port : {base, base + 1}) {
    EXPECT_TRUE(wait_until([&] {
      try {
        return http_request(port, "GET", "/healthz", {}, "").status == 200;
      } catch (const std::exception&) {
        return false;  // not listening yet
      }
    }, 20s))
        << port << "\n" << first->log() << second->log();
  }
  // A second instance 1 finds its port taken and says so in the operator's words.
  auto clash = worker("1");
  EXPECT_EQ(clash->wait(20s), std::optional<int>(1));
  EXPECT_NE(clash->log().find("cannot listen on 127.0.0.1:" + std::to_string(base) +
                              ": Address already in use"),
            std::string::npos)
      << clash->log();
  first->terminate(40s);
  second->terminate(40s);
}

TEST(WorkerInstanceTest, InstanceMustBeANumberAndOnlyTheWorkerTakesIt) {
  TempDir dir;
  for (const char* bad : {"0", "1001", "two", ""}) {
    Process worker({GITOPSD_WORKER_BIN, "--instance", bad}, dir.path() + "/bad.log");
    EXPECT_EQ(worker.wait(10s), std::optional<int>(2)) << bad;
    EXPECT_NE(worker.log().find("--instance: needs a number from 1 to 1000"), std::string::npos)
        << worker.log();
  }
  Process receiver({GITOPSD_RECEIVER_BIN, "--instance", "1"}, dir.path() + "/receiver.log");
  EXPECT_EQ(receiver.wait(10s), std::optional<int>(2));
  EXPECT_NE(receiver.log().find("not expected"), std::string::npos) << receiver.log();
  EXPECT_NE(receiver.log().find("--instance"), std::string::npos) << receiver.log();
}

}  // namespace
}  // namespace gitopsd::test
