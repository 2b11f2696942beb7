#include "gitopsd/ctl/embedded_broker.hpp"

// rdkafka_mock.h must follow rdkafka.h (kafka_client.hpp).
#include "gitopsd/kafka_client.hpp"
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>

namespace gitopsd::ctl {

struct EmbeddedBroker::Impl {
  // The mock cluster belongs to this handle (`test.mock.num.brokers`) and lives as long as it.
  KafkaHandle handle;
};

EmbeddedBroker::EmbeddedBroker(const KafkaTopics& topics) : impl_(std::make_unique<Impl>()) {
  // A producer handle only hosts the cluster; it never produces. Its log lines (the mock
  // cluster's included) go to the "kafka" logger.
  try {
    impl_->handle = make_kafka_client(
        RD_KAFKA_PRODUCER, {{"test.mock.num.brokers", "1"}, {"client.id", "gitopsctl-dev-broker"}});
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("embedded broker: ") + e.what());
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_handle_mock_cluster(impl_->handle.get());
  if (cluster == nullptr)
    throw std::runtime_error("embedded broker: librdkafka started no mock cluster");
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster);
  // Created up front, not on first use: the worker subscribes to the events topic and reads
  // the state topic before anything was published to them.
  for (const auto& [topic, partitions] :
       {std::pair{&topics.events, kEventsPartitions}, std::pair{&topics.results, 1},
        std::pair{&topics.state, 1}, std::pair{&topics.dlq, 1}, std::pair{&topics.statuses, 1}}) {
    auto err = rd_kafka_mock_topic_create(cluster, topic->c_str(), partitions, 1);
    // Two roles may share one topic; the config allows it.
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      throw std::runtime_error("embedded broker: cannot create topic " + *topic + ": " +
                               rd_kafka_err2str(err));
  }
}

EmbeddedBroker::~EmbeddedBroker() = default;

}  // namespace gitopsd::ctl
