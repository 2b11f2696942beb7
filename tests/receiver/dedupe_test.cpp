#include "gitopsd/receiver/dedupe.hpp"

#include <gtest/gtest.h>

namespace gitopsd::receiver {
namespace {

using State = DeliveryDeduper::State;
using Clock = DeliveryDeduper::Clock;

TEST(DeliveryDeduperTest, SecondConfirmedDeliveryIsADuplicateWithTheFirstEventId) {
  DeliveryDeduper deduper(std::chrono::hours(1));
  auto t = Clock::now();
  EXPECT_EQ(deduper.claim("github\ninfra\nd1", "e1", t).state, State::fresh);
  EXPECT_EQ(deduper.claim("github\ninfra\nd1", "e2", t).state, State::pending);
  deduper.confirm("github\ninfra\nd1");
  auto again = deduper.claim("github\ninfra\nd1", "e3", t);
  EXPECT_EQ(again.state, State::done);
  EXPECT_EQ(again.event_id, "e1");
}

TEST(DeliveryDeduperTest, ReleasedDeliveryMayBeRetried) {
  DeliveryDeduper deduper(std::chrono::hours(1));
  auto t = Clock::now();
  deduper.claim("k", "e1", t);
  deduper.release("k");
  auto retry = deduper.claim("k", "e2", t);
  EXPECT_EQ(retry.state, State::fresh);
  EXPECT_EQ(retry.event_id, "e2");
}

// A publish whose outcome is unknown may be in the topic: the host's retry is published
// again, under the first event id, and once that one is acknowledged the next is a duplicate.
TEST(DeliveryDeduperTest, UnsureDeliveryIsRepublishedUnderItsEventId) {
  DeliveryDeduper deduper(std::chrono::hours(1));
  auto t = Clock::now();
  deduper.claim("k", "e1", t);
  deduper.unsure("k");
  auto retry = deduper.claim("k", "e2", t);
  EXPECT_EQ(retry.state, State::fresh);
  EXPECT_EQ(retry.event_id, "e1");
  EXPECT_EQ(deduper.claim("k", "e3", t).state, State::pending);  // the retry is publishing
  deduper.confirm("k");
  auto after = deduper.claim("k", "e4", t);
  EXPECT_EQ(after.state, State::done);
  EXPECT_EQ(after.event_id, "e1");
}

TEST(DeliveryDeduperTest, ForgetsDeliveriesOlderThanTheWindow) {
  DeliveryDeduper deduper(std::chrono::minutes(10));
  auto t = Clock::now();
  deduper.claim("k", "e1", t);
  deduper.confirm("k");
  EXPECT_EQ(deduper.claim("k", "e2", t + std::chrono::minutes(9)).state, State::done);
  EXPECT_EQ(deduper.claim("k", "e3", t + std::chrono::minutes(11)).state, State::fresh);
}

TEST(DeliveryDeduperTest, ReclaimedKeyIsNotExpiredByItsOldSlot) {
  DeliveryDeduper deduper(std::chrono::minutes(10));
  auto t = Clock::now();
  deduper.claim("k", "e1", t);
  deduper.release("k");
  deduper.claim("k", "e2", t + std::chrono::minutes(5));
  deduper.confirm("k");
  // The first slot (t) expires at t+10m; the entry claimed at t+5m must survive it.
  EXPECT_EQ(deduper.claim("k", "e3", t + std::chrono::minutes(12)).state, State::done);
}

}  // namespace
}  // namespace gitopsd::receiver
