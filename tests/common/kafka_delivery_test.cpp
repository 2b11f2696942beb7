// Delivery reports classified: acknowledged, certainly not written (a retry cannot duplicate
// it), or unknown (may be in the topic: never taken for lost). Against librdkafka's in-process
// mock cluster, so the reports are the ones the real producer hands the receiver.
#include <gtest/gtest.h>

// rdkafka_mock.h must follow rdkafka.h (kafka_client.hpp).
#include "gitopsd/kafka_client.hpp"
#include <librdkafka/rdkafka_mock.h>

#include "gitopsd/kafka_producer.hpp"

namespace gitopsd {
namespace {

using namespace std::chrono_literals;

TEST(DeliveryPersistenceTest, OnlyNeverSentOrRefusedIsNotPersisted) {
  EXPECT_EQ(delivery_persistence(RD_KAFKA_RESP_ERR_NO_ERROR, RD_KAFKA_MSG_STATUS_PERSISTED),
            Persistence::persisted);
  EXPECT_EQ(delivery_persistence(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_MSG_STATUS_NOT_PERSISTED),
            Persistence::not_persisted);
  EXPECT_EQ(delivery_persistence(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
                                 RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED),
            Persistence::unknown);
  EXPECT_EQ(delivery_persistence(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                 RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED),
            Persistence::unknown);
  EXPECT_EQ(delivery_persistence(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, RD_KAFKA_MSG_STATUS_PERSISTED),
            Persistence::unknown);
}

TEST(DeliveryPersistenceTest, RetryableOnlyWhenCertainlyNotPersisted) {
  DeliveryReport report;
  for (auto [persistence, retryable] : {std::pair{Persistence::persisted, false},
                                        std::pair{Persistence::not_persisted, true},
                                        std::pair{Persistence::unknown, false}}) {
    report.persistence = persistence;
    EXPECT_EQ(report.retryable(), retryable) << static_cast<int>(persistence);
  }
}

// One mock broker, hosted by a handle of its own (as `gitopsctl dev` does).
class MockClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_ = make_kafka_client(RD_KAFKA_PRODUCER, {{"test.mock.num.brokers", "1"}});
    cluster_ = rd_kafka_handle_mock_cluster(host_.get());
    ASSERT_NE(cluster_, nullptr);
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, "events", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka_.brokers = rd_kafka_mock_cluster_bootstraps(cluster_);
  }

  KafkaHandle host_;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  KafkaConfig kafka_;
};

TEST_F(MockClusterTest, AcknowledgedIsPersisted) {
  KafkaProducer producer(kafka_, "test", 5s);
  auto report = producer.produce_and_wait("events", "key", "value");
  EXPECT_TRUE(report.ok) << report.error;
  EXPECT_EQ(report.persistence, Persistence::persisted);
  EXPECT_FALSE(report.retryable());
}

TEST_F(MockClusterTest, NeverSentIsRetryable) {
  KafkaProducer producer(kafka_, "test", 1s);
  ASSERT_TRUE(producer.produce_and_wait("events", "key", "warm").ok);  // connected, PID acquired
  rd_kafka_mock_broker_set_down(cluster_, 1);
  auto report = producer.produce_and_wait("events", "key", "value");
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.persistence, Persistence::not_persisted) << report.error;
  EXPECT_TRUE(report.retryable());
}

TEST_F(MockClusterTest, TimedOutInFlightIsUnknownNotRetryable) {
  KafkaProducer producer(kafka_, "test", 1s);
  ASSERT_TRUE(producer.produce_and_wait("events", "key", "warm").ok);
  // The broker takes longer to answer than the delivery timeout: the request was sent, so
  // the record may be written.
  rd_kafka_mock_broker_set_rtt(cluster_, 1, 3000);
  auto report = producer.produce_and_wait("events", "key", "value");
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.persistence, Persistence::unknown) << report.error;
  EXPECT_FALSE(report.retryable());
}

}  // namespace
}  // namespace gitopsd
