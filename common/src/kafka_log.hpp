// librdkafka's errors and warnings, routed into spdlog's "kafka" logger so every line the
// daemons print has one format (librdkafka otherwise writes "%3|…" lines to stderr itself).
// Private to common: clients get it from kafka_client.hpp's factories.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

namespace gitopsd {

// For C++ API clients: conf->set("event_cb", &kafka_event_logger(), error). Stateless; shared.
RdKafka::EventCb& kafka_event_logger();

// For C API clients: rd_kafka_conf_set_log_cb(conf, &kafka_log_line). Syslog levels.
void kafka_log_line(const rd_kafka_t* rk, int level, const char* facility, const char* message);

}  // namespace gitopsd
