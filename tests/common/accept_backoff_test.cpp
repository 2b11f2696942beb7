#include "gitopsd/accept_backoff.hpp"

#include <gtest/gtest.h>

namespace gitopsd {
namespace {

using namespace std::chrono_literals;
using Clock = AcceptBackoff::Clock;

TEST(AcceptBackoffTest, DelayDoublesUpToOneSecondAndResetsOnSuccess) {
  AcceptBackoff backoff;
  auto now = Clock::now();
  std::vector<Clock::duration> delays;
  for (int i = 0; i < 10; ++i) delays.push_back(backoff.failed(now).delay);
  EXPECT_EQ(delays[0], 5ms);
  EXPECT_EQ(delays[1], 10ms);
  EXPECT_EQ(delays[2], 20ms);
  EXPECT_EQ(delays[7], 640ms);
  EXPECT_EQ(delays[8], 1s);
  EXPECT_EQ(delays[9], 1s);
  backoff.succeeded();
  EXPECT_EQ(backoff.failed(now).delay, 5ms);
}

TEST(AcceptBackoffTest, LogsAtMostOnceASecondWithTheCountLeftOut) {
  AcceptBackoff backoff;
  auto start = Clock::now();
  EXPECT_EQ(backoff.failed(start).log, std::optional<std::uint64_t>(0));
  int logged = 0;
  for (int i = 1; i < 1000; ++i)  // 999 failures over the next 999 ms
    if (backoff.failed(start + std::chrono::milliseconds(i)).log) ++logged;
  EXPECT_EQ(logged, 0);
  EXPECT_EQ(backoff.failed(start + 1s).log, std::optional<std::uint64_t>(999));
  backoff.succeeded();  // a success does not reopen the log: a flapping failure stays quiet
  EXPECT_FALSE(backoff.failed(start + 1500ms).log);
  EXPECT_EQ(backoff.failed(start + 2s).log, std::optional<std::uint64_t>(1));
}

}  // namespace
}  // namespace gitopsd
