// gitopsd_webhooks_total{provider, event, outcome}: every label comes from a fixed set
// (Provider, known_events or "other", Outcome), so each series has a slot of its own. A
// series is registered on its first count, so /metrics lists only those seen, and from then
// on a count is an index and an atomic add: no lock, map lookup or label string per request.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string_view>

#include "gitopsd/metrics.hpp"
#include "gitopsd/receiver/webhook.hpp"

namespace gitopsd::receiver {

class WebhookCounters {
 public:
  explicit WebhookCounters(Metrics& metrics);

  // Counts one answered request. The event label is `event_type` mapped by event_label, and
  // only for a genuine outcome: before the signature verified it is empty.
  void count(std::optional<Provider> provider, std::string_view event_type, Outcome outcome);

 private:
  Metrics& metrics_;
  std::size_t events_;  // event label slots per provider: "", each known event, "other"
  std::unique_ptr<std::atomic<Counter*>[]> slots_;  // null until the series is first counted
};

}  // namespace gitopsd::receiver
