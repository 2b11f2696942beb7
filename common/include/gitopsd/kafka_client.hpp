// Making librdkafka clients from a KafkaSettings list (kafka_settings.hpp), in one way: the
// settings applied in order, librdkafka's own log lines routed to the "kafka" logger, every
// C handle owned by a CHandle. For code that uses librdkafka directly (the producer, the
// consumers, gitopsctl's admin client and embedded broker); it includes librdkafka's headers.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <memory>

#include "gitopsd/c_handle.hpp"
#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/kafka_settings.hpp"

namespace gitopsd {

using KafkaConfHandle = CHandle<rd_kafka_conf_t, rd_kafka_conf_destroy>;
using KafkaHandle = CHandle<rd_kafka_t, rd_kafka_destroy>;
using KafkaQueueHandle = CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy>;

// librdkafka's C API. Throws std::runtime_error with librdkafka's message when it refuses a
// setting or the client.
KafkaHandle make_kafka_client(rd_kafka_type_t type, const KafkaSettings& settings);

// librdkafka's C++ API: a global Conf with `settings` and the "kafka" logger as its event
// callback, to which the caller adds its own callbacks (dr_cb, rebalance_cb). Throws
// std::runtime_error.
std::unique_ptr<RdKafka::Conf> make_kafka_conf(const KafkaSettings& settings);

// How a delivery report's error and librdkafka's message status classify it: no error is
// persisted; an error on a message librdkafka never sent, or the broker refused, is
// not_persisted; anything else (timed out in flight, an ambiguous broker error) is unknown.
Persistence delivery_persistence(rd_kafka_resp_err_t error, rd_kafka_msg_status_t status);

}  // namespace gitopsd
