#include "gitopsd/receiver/dedupe.hpp"

namespace gitopsd::receiver {

DeliveryDeduper::Claim DeliveryDeduper::claim(const std::string& key, const std::string& event_id,
                                              Clock::time_point now) {
  std::lock_guard lock(mutex_);
  expire(now);
  auto [it, inserted] = entries_.try_emplace(key, Entry{event_id, Progress::publishing, now});
  if (inserted) {
    order_.emplace_back(now, key);
    return {State::fresh, event_id};
  }
  Entry& entry = it->second;
  switch (entry.progress) {
    case Progress::published:
      return {State::done, entry.event_id};
    case Progress::publishing:
      return {State::pending, entry.event_id};
    case Progress::unsure:
      entry.progress = Progress::publishing;
      return {State::fresh, entry.event_id};
  }
  return {State::pending, entry.event_id};
}

void DeliveryDeduper::confirm(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (auto it = entries_.find(key); it != entries_.end()) it->second.progress = Progress::published;
}

void DeliveryDeduper::unsure(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (auto it = entries_.find(key); it != entries_.end() && it->second.progress == Progress::publishing)
    it->second.progress = Progress::unsure;
}

void DeliveryDeduper::release(const std::string& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);  // its `order_` slot is skipped when it expires
}

void DeliveryDeduper::expire(Clock::time_point now) {
  while (!order_.empty() &&
         (now - order_.front().first > window_ || order_.size() > kMaxEntries)) {
    auto it = entries_.find(order_.front().second);
    // A released and re-claimed key has a newer entry: only drop the one this slot records.
    if (it != entries_.end() && it->second.seen == order_.front().first) entries_.erase(it);
    order_.pop_front();
  }
}

}  // namespace gitopsd::receiver
