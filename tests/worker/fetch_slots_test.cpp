#include "gitopsd/worker/fetch_slots.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace gitopsd::worker {
namespace {

using namespace std::chrono_literals;

TEST(FetchSlotsTest, NoMoreThanTheLimitAtOnce) {
  FetchSlots slots(3);
  std::atomic<int> running{0}, most{0};
  {
    std::vector<std::jthread> fetchers;
    for (int i = 0; i < 12; ++i)
      fetchers.emplace_back([&] {
        auto slot = slots.acquire({});
        ASSERT_TRUE(slot);
        const int now = ++running;
        for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
        }
        std::this_thread::sleep_for(10ms);
        --running;
      });
  }
  EXPECT_EQ(most.load(), 3);
  EXPECT_EQ(slots.in_use(), 0u);
}

TEST(FetchSlotsTest, AWaiterGivesUpWhenStopped) {
  FetchSlots slots(1);
  auto held = slots.acquire({});
  ASSERT_TRUE(held);
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(50ms);
    stop.request_stop();
  });
  auto waited = slots.acquire(stop.get_token());
  EXPECT_FALSE(waited);
  EXPECT_EQ(slots.in_use(), 1u);
}

TEST(FetchSlotsTest, ARaisedLimitLetsWaitersIn) {
  FetchSlots slots(1);
  auto held = slots.acquire({});
  std::atomic<bool> got{false};
  std::jthread waiter([&] {
    auto slot = slots.acquire({});
    got = static_cast<bool>(slot);
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(got.load());
  slots.set_limit(2);
  waiter.join();
  EXPECT_TRUE(got.load());
}

}  // namespace
}  // namespace gitopsd::worker
