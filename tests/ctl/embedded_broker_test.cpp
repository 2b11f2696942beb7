// The embedded broker of `gitopsctl dev` serves gitopsd's own Kafka clients: the idempotent
// producer and the topic reader, on the topics it created.
#include "gitopsd/ctl/embedded_broker.hpp"

#include <gtest/gtest.h>

#include <set>

#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/topic_reader.hpp"

namespace gitopsd::ctl {
namespace {

TEST(EmbeddedBrokerTest, ServesTheProducerAndTheReaderOnTheTopicsItCreated) {
  KafkaTopics topics{.events = "dev.events",
                     .results = "dev.results",
                     .state = "dev.state",
                     .dlq = "dev.results"};  // two roles on one topic are allowed
  EmbeddedBroker broker(topics);
  ASSERT_TRUE(broker.bootstrap().starts_with("127.0.0.1:")) << broker.bootstrap();
  KafkaConfig kafka{.brokers = broker.bootstrap(), .topics = topics, .properties = {}};

  // Created up front with their own partition counts (an auto-created topic gets the mock
  // cluster's default of 4): one for the state topic, kEventsPartitions for the events.
  KafkaProducer producer(kafka, "embedded-broker-test", std::chrono::seconds(10));
  std::set<std::int32_t> event_partitions, state_partitions;
  for (int i = 0; i < 20; ++i) {
    const std::string key = "repository-" + std::to_string(i);
    auto event = producer.produce_and_wait(topics.events, key, "{}");
    ASSERT_TRUE(event.ok) << event.error;
    event_partitions.insert(event.partition);
    auto state = producer.produce_and_wait(topics.state, key, "applied " + std::to_string(i));
    ASSERT_TRUE(state.ok) << state.error;
    state_partitions.insert(state.partition);
  }
  EXPECT_GT(event_partitions.size(), 1u);
  EXPECT_LT(*event_partitions.rbegin(), EmbeddedBroker::kEventsPartitions);
  EXPECT_EQ(state_partitions, std::set<std::int32_t>{0});

  auto records = read_topic_to_end(kafka, topics.state, std::chrono::seconds(10));
  ASSERT_TRUE(std::holds_alternative<std::vector<TopicRecord>>(records))
      << std::get<std::string>(records);
  const auto& read = std::get<std::vector<TopicRecord>>(records);
  ASSERT_EQ(read.size(), 20u);
  EXPECT_EQ(read[19].key, "repository-19");
  EXPECT_EQ(read[19].value, std::optional<std::string>("applied 19"));
}

}  // namespace
}  // namespace gitopsd::ctl
