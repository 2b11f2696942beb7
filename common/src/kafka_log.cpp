#include "kafka_log.hpp"

#include <algorithm>

#include "gitopsd/log.hpp"

namespace gitopsd {
namespace {

// Syslog levels: 0 emergency .. 3 error, 4 warning, 7 debug (librdkafka's `debug` property).
void log_at(int level, const char* facility, const std::string& message) {
  auto log = logger("kafka");
  if (level <= 3) {
    log->error("librdkafka {}: {}", facility, message);
  } else if (level <= 4) {
    log->warn("librdkafka {}: {}", facility, message);
  } else {
    log->debug("librdkafka {}: {}", facility, message);
  }
}

class KafkaEventLogger : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (event.fatal()) {
          logger("kafka")->critical("fatal error={} reason={}", RdKafka::err2str(event.err()),
                                    event.str());
        } else {
          logger("kafka")->warn("error={} reason={}", RdKafka::err2str(event.err()), event.str());
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        // Errors and warnings as warnings (as before); the rest only at debug level.
        log_at(std::max(4, static_cast<int>(event.severity())), event.fac().c_str(), event.str());
        break;
      default:
        break;
    }
  }
};

}  // namespace

RdKafka::EventCb& kafka_event_logger() {
  static KafkaEventLogger instance;
  return instance;
}

void kafka_log_line(const rd_kafka_t*, int level, const char* facility, const char* message) {
  log_at(level, facility, message);
}

}  // namespace gitopsd
