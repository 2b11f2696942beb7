// read_topic_to_end and produce_and_wait against the real broker.
#include "gitopsd/topic_reader.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gitopsd/kafka_producer.hpp"
#include "harness.hpp"

namespace gitopsd {
namespace {

using namespace std::chrono_literals;

class TopicReaderTest : public ::testing::Test {
 protected:
  void SetUp() override { kafka_.brokers = test::kafka_bootstrap(); }
  KafkaConfig kafka_;
};

TEST_F(TopicReaderTest, ReadsEveryRecordUpToTheEndAsOfTheCall) {
  auto topic = test::unique_name("state");
  KafkaProducer producer(kafka_, "test", 10s);
  for (int i = 0; i < 5; ++i) {
    // fmt, not "v" + std::to_string(i): GCC 12 at -O3 raises a false -Wrestrict on that.
    auto report = producer.produce_and_wait(topic, "infra/web", fmt::format("v{}", i));
    ASSERT_TRUE(report.ok) << report.error;
    EXPECT_EQ(report.offset, i);
  }
  auto result = read_topic_to_end(kafka_, topic, 30s);
  ASSERT_TRUE(std::holds_alternative<std::vector<TopicRecord>>(result)) << std::get<std::string>(result);
  const auto& records = std::get<std::vector<TopicRecord>>(result);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records.front().key, "infra/web");
  EXPECT_EQ(records.back().value, std::optional<std::string>("v4"));
  EXPECT_EQ(records.back().offset, 4);
}

TEST_F(TopicReaderTest, TopicThatDoesNotExistReadsAsEmpty) {
  auto result = read_topic_to_end(kafka_, test::unique_name("absent"), 30s);
  ASSERT_TRUE(std::holds_alternative<std::vector<TopicRecord>>(result)) << std::get<std::string>(result);
  EXPECT_TRUE(std::get<std::vector<TopicRecord>>(result).empty());
}

TEST_F(TopicReaderTest, IfExistsTellsAMissingTopicFromAnEmptyOne) {
  auto absent = read_topic_if_exists(kafka_, test::unique_name("absent"), 30s);
  ASSERT_FALSE(std::holds_alternative<std::string>(absent)) << std::get<std::string>(absent);
  EXPECT_FALSE(std::get<0>(absent).has_value());

  const auto topic = test::unique_name("empty");
  test::create_topic(kafka_.brokers, topic, 2);
  // A topic just created shows in the metadata (with leaders) a moment later.
  std::variant<std::optional<std::vector<TopicRecord>>, std::string> empty;
  EXPECT_TRUE(test::wait_until([&] {
    empty = read_topic_if_exists(kafka_, topic, 30s);
    return std::holds_alternative<std::string>(empty) || std::get<0>(empty).has_value();
  }, 10s));
  ASSERT_FALSE(std::holds_alternative<std::string>(empty)) << std::get<std::string>(empty);
  ASSERT_TRUE(std::get<0>(empty).has_value());
  EXPECT_TRUE(std::get<0>(empty)->empty());
}

TEST_F(TopicReaderTest, UnreachableClusterIsAnErrorWithinTheTimeout) {
  KafkaConfig nowhere;
  nowhere.brokers = "127.0.0.1:" + std::to_string(test::free_port());
  auto started = std::chrono::steady_clock::now();
  auto result = read_topic_to_end(nowhere, "gitopsd.state", 2s);
  EXPECT_TRUE(std::holds_alternative<std::string>(result));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

}  // namespace
}  // namespace gitopsd
