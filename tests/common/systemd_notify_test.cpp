// The sd_notify protocol as gitopsd speaks it, against a datagram socket this test owns.
#include "gitopsd/systemd_notify.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <thread>

#include "notify_socket.hpp"

namespace gitopsd::systemd {
namespace {

using namespace std::chrono_literals;
using test::NotifySocket;

class SystemdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) ::unsetenv(name);
  }
  void TearDown() override { SetUp(); }
  static std::string socket_path() {
    return (std::filesystem::temp_directory_path() /
            ("gitopsd-notify-" + std::to_string(::getpid())))
        .string();
  }
};

TEST_F(SystemdNotifyTest, SendsToASocketPath) {
  NotifySocket socket(socket_path());
  ::setenv("NOTIFY_SOCKET", socket.path().c_str(), 1);
  EXPECT_TRUE(notify("READY=1\nSTATUS=consuming"));
  auto m = socket.receive(2s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, "READY=1\nSTATUS=consuming");
}

TEST_F(SystemdNotifyTest, SendsToAnAbstractSocket) {
  NotifySocket socket("@gitopsd-notify-test-" + std::to_string(::getpid()));
  ::setenv("NOTIFY_SOCKET", socket.path().c_str(), 1);
  EXPECT_TRUE(notify("STOPPING=1"));
  auto m = socket.receive(2s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, "STOPPING=1");
}

TEST_F(SystemdNotifyTest, IsANoOpOutsideSystemd) {
  EXPECT_FALSE(notify("READY=1"));
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(notify("READY=1"));
  ::setenv("NOTIFY_SOCKET", (socket_path() + "-nobody-listens").c_str(), 1);
  EXPECT_FALSE(notify("READY=1"));
}

TEST_F(SystemdNotifyTest, WatchdogPingsAtHalfTheIntervalForThisProcessOnly) {
  EXPECT_FALSE(watchdog_ping_interval());
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  EXPECT_EQ(watchdog_ping_interval(), std::chrono::microseconds(15'000'000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(watchdog_ping_interval(), std::chrono::microseconds(15'000'000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(watchdog_ping_interval()) << "the watchdog is another process's";
  ::unsetenv("WATCHDOG_PID");
  for (const char* bad : {"0", "", "12x", "-5"}) {
    ::setenv("WATCHDOG_USEC", bad, 1);
    EXPECT_FALSE(watchdog_ping_interval()) << bad;
  }
}

TEST_F(SystemdNotifyTest, PingerSendsOncePerInterval) {
  NotifySocket socket(socket_path());
  ::setenv("NOTIFY_SOCKET", socket.path().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);  // a ping every 200 ms
  WatchdogPinger pinger;
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < 1s) {
    pinger.ping();
    std::this_thread::sleep_for(5ms);
  }
  int pings = 0;
  while (auto m = socket.receive(0ms)) {
    EXPECT_EQ(m->text, "WATCHDOG=1");
    ++pings;
  }
  EXPECT_GE(pings, 4);
  EXPECT_LE(pings, 6);
}

TEST_F(SystemdNotifyTest, IoWatchdogPingsWhileTheLoopRunsAndStopLetsItReturn) {
  NotifySocket socket(socket_path());
  ::setenv("NOTIFY_SOCKET", socket.path().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "200000", 1);  // a ping every 100 ms
  boost::asio::io_context io;
  IoWatchdog watchdog(io);
  std::jthread loop([&] { io.run(); });
  int pings = 0;
  while (pings < 5 && socket.receive(1s)) ++pings;
  EXPECT_EQ(pings, 5);
  watchdog.stop();
  loop.join();  // io.run() returned: no work left once the timer is cancelled
  EXPECT_FALSE(socket.receive(300ms)) << "no ping after stop()";
}

TEST_F(SystemdNotifyTest, IoWatchdogIsIdleWithoutTheWatchdog) {
  NotifySocket socket(socket_path());
  ::setenv("NOTIFY_SOCKET", socket.path().c_str(), 1);
  boost::asio::io_context io;
  IoWatchdog watchdog(io);
  io.run();  // returns at once: nothing scheduled
  EXPECT_FALSE(socket.receive(100ms));
}

}  // namespace
}  // namespace gitopsd::systemd
