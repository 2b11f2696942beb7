#include "gitopsd/ctl/embedded_broker.hpp"

#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must follow rdkafka.h.
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>

#include "gitopsd/log.hpp"

namespace gitopsd::ctl {
namespace {

// librdkafka's own lines (the mock cluster's included) go to the "kafka" logger rather than
// straight to stderr in librdkafka's format. Syslog levels: 0 emergency .. 7 debug.
void log_line(const rd_kafka_t*, int level, const char* facility, const char* message) {
  auto log = logger("kafka");
  if (level <= 3) {
    log->error("embedded broker {}: {}", facility, message);
  } else if (level <= 4) {
    log->warn("embedded broker {}: {}", facility, message);
  } else {
    log->debug("embedded broker {}: {}", facility, message);
  }
}

}  // namespace

struct EmbeddedBroker::Impl {
  // The mock cluster belongs to this handle (`test.mock.num.brokers`) and lives as long as it.
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> handle{nullptr, &rd_kafka_destroy};
};

EmbeddedBroker::EmbeddedBroker(const KafkaTopics& topics) : impl_(std::make_unique<Impl>()) {
  std::unique_ptr<rd_kafka_conf_t, decltype(&rd_kafka_conf_destroy)> conf(rd_kafka_conf_new(),
                                                                          &rd_kafka_conf_destroy);
  char error[512] = {};
  if (rd_kafka_conf_set(conf.get(), "test.mock.num.brokers", "1", error, sizeof error) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf.get(), "client.id", "gitopsctl-dev-broker", error, sizeof error) !=
          RD_KAFKA_CONF_OK)
    throw std::runtime_error(std::string("embedded broker: ") + error);
  rd_kafka_conf_set_log_cb(conf.get(), &log_line);
  // A producer handle only hosts the cluster; it never produces. rd_kafka_new owns `conf`
  // from here on when it succeeds.
  impl_->handle.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error, sizeof error));
  if (!impl_->handle) throw std::runtime_error(std::string("embedded broker: ") + error);
  conf.release();
  rd_kafka_mock_cluster_t* cluster = rd_kafka_handle_mock_cluster(impl_->handle.get());
  if (cluster == nullptr)
    throw std::runtime_error("embedded broker: librdkafka started no mock cluster");
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster);
  // Created up front, not on first use: the worker subscribes to the events topic and reads
  // the state topic before anything was published to them.
  for (const auto& [topic, partitions] :
       {std::pair{&topics.events, kEventsPartitions}, std::pair{&topics.results, 1},
        std::pair{&topics.state, 1}, std::pair{&topics.dlq, 1}}) {
    auto err = rd_kafka_mock_topic_create(cluster, topic->c_str(), partitions, 1);
    // Two roles may share one topic; the config allows it.
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      throw std::runtime_error("embedded broker: cannot create topic " + *topic + ": " +
                               rd_kafka_err2str(err));
  }
}

EmbeddedBroker::~EmbeddedBroker() = default;

}  // namespace gitopsd::ctl
