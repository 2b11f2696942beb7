#include "gitopsd/receiver/webhook_counters.hpp"

#include <algorithm>
#include <span>
#include <string>

namespace gitopsd::receiver {
namespace {

constexpr Provider kProviders[] = {Provider::github, Provider::gitlab, Provider::gitea};
constexpr std::size_t kProviderSlots = std::size(kProviders) + 1;  // + not detected

std::size_t most_known_events() {
  std::size_t most = 0;
  for (const Provider p : kProviders) most = std::max(most, known_events(p).size());
  return most;
}

}  // namespace

WebhookCounters::WebhookCounters(Metrics& metrics)
    : metrics_(metrics),
      events_(most_known_events() + 2),
      slots_(new std::atomic<Counter*>[kProviderSlots * events_ * kOutcomeCount]) {
  for (std::size_t i = 0; i < kProviderSlots * events_ * kOutcomeCount; ++i) slots_[i] = nullptr;
}

void WebhookCounters::count(std::optional<Provider> provider, std::string_view event_type,
                            Outcome outcome) {
  const std::size_t provider_slot = provider ? 1 + static_cast<std::size_t>(*provider) : 0;
  std::size_t event_slot = 0;  // "": not genuine
  std::string_view event;
  if (is_genuine(outcome)) {
    const auto known = provider ? known_events(*provider) : std::span<const std::string_view>();
    const auto it = std::find(known.begin(), known.end(), event_type);
    event_slot = 1 + static_cast<std::size_t>(it - known.begin());  // past the known: "other"
    event = it == known.end() ? std::string_view("other") : *it;
  }
  auto& slot = slots_[(provider_slot * events_ + event_slot) * kOutcomeCount +
                      static_cast<std::size_t>(outcome)];
  Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Two threads may both get here: the registry hands both the same series.
    counter = &metrics_.counter(
        "gitopsd_webhooks_total", "Webhook requests by provider, event and outcome",
        {{"provider", provider ? std::string(provider_name(*provider)) : "unknown"},
         {"event", std::string(event)},
         {"outcome", std::string(outcome_name(outcome))}});
    slot.store(counter, std::memory_order_release);
  }
  counter->inc();
}

}  // namespace gitopsd::receiver
