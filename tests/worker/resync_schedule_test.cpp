#include "gitopsd/worker/resync_schedule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace gitopsd::worker {
namespace {

using namespace std::chrono_literals;
using Clock = ResyncSchedule::Clock;

std::vector<std::string> names(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back("repo-" + std::to_string(i));
  return out;
}

// A start not on a cycle boundary, as a worker's start would be.
const Clock::time_point kStart = Clock::time_point(1'780'000'123'456'789us);

// Ticks the schedule from `start` for `span` in steps of `tick`; the times each name came due.
std::map<std::string, std::vector<Clock::time_point>> run(ResyncSchedule& schedule,
                                                          Clock::time_point start,
                                                          Clock::duration span,
                                                          Clock::duration tick) {
  std::map<std::string, std::vector<Clock::time_point>> seen;
  EXPECT_TRUE(schedule.due(start).empty()) << "the first call only sets the start";
  for (auto t = start + tick; t <= start + span; t += tick)
    for (const auto& name : schedule.due(t)) seen[name].push_back(t);
  return seen;
}

TEST(ResyncScheduleTest, EveryRepositoryIsDueOncePerInterval) {
  ResyncSchedule schedule(60s, names(500));
  auto seen = run(schedule, kStart, 3 * 60s, 50ms);
  ASSERT_EQ(seen.size(), 500u);
  for (const auto& [name, times] : seen) {
    ASSERT_EQ(times.size(), 3u) << name;
    // One slot per cycle, with jitter only within the slot: the gaps are an interval, give
    // or take a slot (120 ms) and a tick.
    for (std::size_t i = 1; i < times.size(); ++i) {
      EXPECT_GT(times[i] - times[i - 1], 60s - 200ms) << name;
      EXPECT_LT(times[i] - times[i - 1], 60s + 200ms) << name;
    }
  }
}

// The target: no second with more than 2x the mean rate. Slots make it at most one
// above the mean, whatever the names.
TEST(ResyncScheduleTest, TenThousandRepositoriesComeDueAtAnEvenRate) {
  ResyncSchedule schedule(180s, names(10'000));
  std::vector<std::size_t> per_second;
  schedule.due(kStart);
  for (auto t = kStart + 1s; t <= kStart + 360s; t += 1s) per_second.push_back(schedule.due(t).size());
  const double mean = 10'000.0 / 180.0;
  for (std::size_t s = 0; s < per_second.size(); ++s) {
    EXPECT_LE(static_cast<double>(per_second[s]), mean + 2) << "second " << s;
    EXPECT_GE(static_cast<double>(per_second[s]), mean - 2) << "second " << s;
  }
}

// Workers compute their schedules apart: the same config must give the same times, whatever
// order the repositories are listed in.
TEST(ResyncScheduleTest, TwoWorkersWithTheSameRepositoriesAgree) {
  auto listed = names(300);
  ResyncSchedule first(30s, listed);
  std::reverse(listed.begin(), listed.end());
  ResyncSchedule second(30s, listed);
  for (const auto& name : names(300))
    EXPECT_EQ(first.next_slot(name, kStart), second.next_slot(name, kStart)) << name;
  EXPECT_EQ(run(first, kStart, 65s, 100ms), run(second, kStart, 65s, 100ms));
}

TEST(ResyncScheduleTest, JitterMovesTheSlotEachCycleWithoutLeavingIt) {
  ResyncSchedule schedule(10s, names(2));  // two slots of 5 s each
  std::vector<Clock::duration> offsets;
  auto t = kStart;
  for (int cycle = 0; cycle < 20; ++cycle) {
    const auto next = *schedule.next_slot("repo-0", t);
    offsets.push_back(next.time_since_epoch() % 10s);
    t = next;
  }
  std::sort(offsets.begin(), offsets.end());
  EXPECT_LT(offsets.front() + 1s, offsets.back()) << "the same offset every cycle";
  // Both offsets lie in one half of the cycle: repo-0's slot.
  EXPECT_EQ(offsets.front() / 5s, offsets.back() / 5s);
}

TEST(ResyncScheduleTest, AfterAGapOfAnIntervalEverythingIsDueOnce) {
  ResyncSchedule schedule(60s, names(50));
  schedule.due(kStart);
  auto due = schedule.due(kStart + 10min);
  std::sort(due.begin(), due.end());
  auto all = names(50);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(due, all);
  EXPECT_TRUE(schedule.due(kStart + 10min).empty());
}

TEST(ResyncScheduleTest, ClockSteppingBackDoesNotRepeatSlots) {
  ResyncSchedule schedule(60s, names(100));
  auto seen = run(schedule, kStart, 30s, 100ms);
  std::size_t before = 0;
  for (const auto& [name, times] : seen) before += times.size();
  // Back 20 s, then forward to where it was: nothing is due twice.
  std::size_t again = 0;
  for (auto t = kStart + 10s; t <= kStart + 30s; t += 100ms) again += schedule.due(t).size();
  EXPECT_EQ(again, 0u);
  EXPECT_GT(before, 30u);
}

TEST(ResyncScheduleTest, NoRepositoriesIsNeverDue) {
  ResyncSchedule schedule(60s, {});
  EXPECT_TRUE(schedule.due(kStart).empty());
  EXPECT_TRUE(schedule.due(kStart + 2min).empty());
  EXPECT_FALSE(schedule.next_slot("x", kStart));
}

}  // namespace
}  // namespace gitopsd::worker
