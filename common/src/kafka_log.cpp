#include "gitopsd/kafka_log.hpp"

#include "gitopsd/log.hpp"

namespace gitopsd {
namespace {

class KafkaEventLogger : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override {
    auto log = logger("kafka");
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (event.fatal()) {
          log->critical("fatal error={} reason={}", RdKafka::err2str(event.err()), event.str());
        } else {
          log->warn("error={} reason={}", RdKafka::err2str(event.err()), event.str());
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING)
          log->warn("librdkafka {}: {}", event.fac(), event.str());
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

}  // namespace gitopsd
