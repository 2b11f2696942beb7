// librdkafka's errors and warnings, routed into spdlog's "kafka" logger so every line the
// daemons print has one format (librdkafka otherwise writes "%3|…" lines to stderr itself).
#pragma once

#include <librdkafka/rdkafkacpp.h>

namespace gitopsd {

// Install with conf->set("event_cb", &kafka_event_logger(), error). Stateless; shared.
RdKafka::EventCb& kafka_event_logger();

}  // namespace gitopsd
