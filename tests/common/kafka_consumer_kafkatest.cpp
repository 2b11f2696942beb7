// KafkaConsumer against the real broker, as the worker uses it: a group member built from
// consumer_settings() (no automatic offset store, cooperative-sticky).
#include "gitopsd/kafka_consumer.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "harness.hpp"

namespace gitopsd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class KafkaConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kafka_.brokers = test::kafka_bootstrap();
    // A member that leaves without a word (none here) is noticed soon; joins settle fast.
    kafka_.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "300"}};
    topic_ = test::unique_name("consumer");
    group_ = test::unique_name("group");
  }

  // A topic of `partitions` with `count` records "v0".."v<count-1>" in partition 0.
  void make_topic(int partitions, int count) {
    test::create_topic(kafka_.brokers, topic_, partitions);
    for (int i = 0; i < count; ++i) produce(fmt::format("v{}", i));
  }

  // Key "k" lands in partition 0 of a one-partition topic.
  void produce(const std::string& value) { test::produce_record(kafka_.brokers, topic_, "k", value); }

  std::unique_ptr<KafkaConsumer> member(KafkaConsumer::RebalanceHooks hooks = {}) {
    auto consumer = std::make_unique<KafkaConsumer>(consumer_settings(kafka_, group_), std::move(hooks));
    consumer->subscribe({topic_});
    return consumer;
  }

  // The messages that arrive until `count` have or `timeout` passes.
  static std::vector<KafkaMessage> poll_for(KafkaConsumer& consumer, std::size_t count,
                                            std::chrono::milliseconds timeout) {
    std::vector<KafkaMessage> messages;
    const auto deadline = Clock::now() + timeout;
    while (messages.size() < count && Clock::now() < deadline)
      if (auto m = consumer.poll(100ms)) messages.push_back(std::move(*m));
    return messages;
  }

  KafkaPartition partition0() const { return {topic_, 0}; }

  KafkaConfig kafka_;
  std::string topic_;
  std::string group_;
};

TEST_F(KafkaConsumerTest, PollReturnsTheProducedMessagesAsOwnedCopies) {
  make_topic(1, 3);
  auto consumer = member();
  auto messages = poll_for(*consumer, 3, 20s);
  ASSERT_EQ(messages.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(messages[i].topic, topic_);
    EXPECT_EQ(messages[i].partition, 0);
    EXPECT_EQ(messages[i].offset, i);
    EXPECT_EQ(messages[i].key, "k");
    EXPECT_EQ(messages[i].value, std::optional<std::string>(fmt::format("v{}", i)));
    EXPECT_GT(messages[i].timestamp_ms, 0);
  }
  EXPECT_FALSE(consumer->poll(200ms)) << "nothing more was produced";
}

TEST_F(KafkaConsumerTest, PauseStopsDeliveryAndResumeRestartsIt) {
  make_topic(1, 1);
  auto consumer = member();
  ASSERT_EQ(poll_for(*consumer, 1, 20s).size(), 1u);

  consumer->pause({partition0()});
  produce("while paused");
  EXPECT_TRUE(poll_for(*consumer, 1, 1500ms).empty()) << "a paused partition delivered";

  consumer->resume({partition0()});
  auto messages = poll_for(*consumer, 1, 10s);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].value, std::optional<std::string>("while paused"));
  EXPECT_EQ(messages[0].offset, 1);
}

TEST_F(KafkaConsumerTest, NextMemberOfTheGroupStartsFromTheStoredOffsetNotTheLastConsumed) {
  make_topic(1, 5);
  {
    auto first = member();
    ASSERT_EQ(poll_for(*first, 5, 20s).size(), 5u);
    // All five consumed, only the first three done: offsets are never stored on their own.
    EXPECT_EQ(first->store_offset(partition0(), 3), std::nullopt);
    EXPECT_EQ(first->commit(), std::nullopt);
  }  // closes: leaves the group
  auto next = member();
  auto messages = poll_for(*next, 1, 20s);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].offset, 3);
  EXPECT_EQ(messages[0].value, std::optional<std::string>("v3"));
}

TEST_F(KafkaConsumerTest, SeekReadsAgainFromTheOffset) {
  make_topic(1, 3);
  auto consumer = member();
  ASSERT_EQ(poll_for(*consumer, 3, 20s).size(), 3u);
  EXPECT_EQ(consumer->seek(partition0(), 1, 5s), std::nullopt);
  auto again = poll_for(*consumer, 2, 10s);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].offset, 1);
  EXPECT_EQ(again[1].offset, 2);
}

TEST_F(KafkaConsumerTest, SecondMemberTakesAPartitionOverThroughTheHooks) {
  make_topic(2, 0);
  std::set<std::int32_t> first_owns, second_owns, first_revoked;
  auto first = member({.assigned = [&](const auto& ps) { for (const auto& p : ps) first_owns.insert(p.partition); },
                       .revoked = [&](const auto& ps) {
                         for (const auto& p : ps) {
                           first_owns.erase(p.partition);
                           first_revoked.insert(p.partition);
                         }
                       }});
  auto until = [](const std::function<bool()>& done, std::chrono::milliseconds timeout,
                  const std::vector<KafkaConsumer*>& members) {
    const auto deadline = Clock::now() + timeout;
    while (!done() && Clock::now() < deadline)
      for (auto* m : members) m->poll(50ms);
    return done();
  };
  ASSERT_TRUE(until([&] { return first_owns.size() == 2; }, 20s, {first.get()}));

  auto second = member({.assigned = [&](const auto& ps) { for (const auto& p : ps) second_owns.insert(p.partition); }});
  ASSERT_TRUE(until([&] { return first_owns.size() == 1 && second_owns.size() == 1; }, 20s,
                    {first.get(), second.get()}))
      << "first owns " << first_owns.size() << ", second " << second_owns.size();
  // Cooperative: only the partition that moved was revoked, and the second member has it.
  EXPECT_EQ(first_revoked, second_owns);
  EXPECT_EQ(first_owns.count(*second_owns.begin()), 0u);
}

}  // namespace
}  // namespace gitopsd
