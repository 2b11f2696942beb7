// Remembers delivery ids for `window` so a redelivered webhook publishes nothing twice.
// Thread-safe. Memory is bounded: beyond kMaxEntries the oldest ids are forgotten first.
// In-process only: receivers behind a load balancer do not share it, which is why the
// workers' applies are idempotent too.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gitopsd/config.hpp"

namespace gitopsd::receiver {

class DeliveryDeduper {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxEntries = 1'000'000;

  enum class State {
    fresh,    // first sighting (or one whose publish may have failed): the caller now owns
              // publishing it, under the returned event_id
    pending,  // another request with this id is being published right now
    done,     // published already: a duplicate
  };
  struct Claim {
    State state;
    std::string event_id;  // the id the first request was given
  };

  explicit DeliveryDeduper(Duration window) : window_(window) {}

  // Claims `key` for a request that would publish `event_id`.
  Claim claim(const std::string& key, const std::string& event_id, Clock::time_point now);
  // The claimed delivery was acknowledged by Kafka: later claims are duplicates.
  void confirm(const std::string& key);
  // The claimed delivery certainly wrote nothing: the host may retry it, as a new event.
  void release(const std::string& key);
  // The claimed delivery's outcome is unknown (it may be in the topic): a retry by the host
  // publishes it again under the same event id, so it is never lost and, if it was written
  // after all, the two copies are one event (the workers' applies are idempotent).
  void unsure(const std::string& key);

 private:
  enum class Progress { publishing, published, unsure };
  struct Entry {
    std::string event_id;
    Progress progress = Progress::publishing;
    Clock::time_point seen;
  };
  void expire(Clock::time_point now);

  const Duration window_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::pair<Clock::time_point, std::string>> order_;  // oldest first
};

}  // namespace gitopsd::receiver
