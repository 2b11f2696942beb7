#include "gitopsd/kafka_client.hpp"

#include <stdexcept>
#include <string>

#include "kafka_log.hpp"

namespace gitopsd {

KafkaHandle make_kafka_client(rd_kafka_type_t type, const KafkaSettings& settings) {
  KafkaConfHandle conf(rd_kafka_conf_new());
  char error[512] = "";
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), error, sizeof error) !=
        RD_KAFKA_CONF_OK)
      throw std::runtime_error("kafka property " + name + ": " + error);
  }
  rd_kafka_conf_set_log_cb(conf.get(), &kafka_log_line);
  KafkaHandle client(rd_kafka_new(type, conf.get(), error, sizeof error));
  if (!client) throw std::runtime_error(std::string("kafka client: ") + error);
  conf.release();  // rd_kafka_new owns it once it succeeded
  return client;
}

std::unique_ptr<RdKafka::Conf> make_kafka_conf(const KafkaSettings& settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  for (const auto& [name, value] : settings) {
    if (conf->set(name, value, error) != RdKafka::Conf::CONF_OK)
      throw std::runtime_error("kafka property " + name + ": " + error);
  }
  if (conf->set("event_cb", &kafka_event_logger(), error) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka event callback: " + error);
  return conf;
}

Persistence delivery_persistence(rd_kafka_resp_err_t error, rd_kafka_msg_status_t status) {
  if (error == RD_KAFKA_RESP_ERR_NO_ERROR) return Persistence::persisted;
  // librdkafka's status says what it knows of the broker: NOT_PERSISTED only when the message
  // was never transmitted or the broker answered with an error that rules a write out. A
  // failed report that says PERSISTED (e.g. a late error after the write) is not lost either.
  return status == RD_KAFKA_MSG_STATUS_NOT_PERSISTED ? Persistence::not_persisted
                                                     : Persistence::unknown;
}

}  // namespace gitopsd
