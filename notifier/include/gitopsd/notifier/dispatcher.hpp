// Runs the notifier's HTTP deliveries (commit statuses, sink notifications) on a few threads,
// in lanes: one lane per repository's statuses and one per sink. A lane sends its deliveries
// in order, one at a time, so a commit's `pending` never overtakes its `success`; lanes run
// side by side, so a Git host that is down or rate-limits one repository never holds up
// another repository or a sink.
//
// Each delivery is tried up to `max_attempts` times with backoff doubling from 1 s up to
// `max_backoff`; a host's own word (Retry-After, rate-limit reset) is honoured up to the same
// cap. A rate limit or a failure to reach a host also gates that host: its other lanes wait
// with it, and while it fails only one request at a time probes it. A delivery that gives up
// (a 401, its attempts spent) is finished as dropped; none is retried forever.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "gitopsd/config.hpp"
#include "gitopsd/http_client.hpp"
#include "gitopsd/notifier/delivery.hpp"

namespace gitopsd::notifier {

struct DeliveryOutcome {
  enum class Kind { delivered, dropped, replaced };
  Kind kind = Kind::delivered;
  unsigned attempts = 0;  // tries made (0 when replaced before its first)
  Verdict last;           // of the last try (when attempts > 0)
};

struct Delivery {
  std::string lane;  // deliveries of one lane go in order, one at a time
  std::string host;  // what a rate limit or an outage applies to (the API or sink URL's origin)
  // A delivery still queued with the same non-empty key is replaced by this one (its `done`
  // hears `replaced`): a newer state of the same commit status makes the older one moot.
  std::string replaces;
  // One try: builds the request afresh (a new timestamp, the token in force) and sends it.
  std::function<std::variant<HttpResponse, std::string>()> send;
  // Called once, on a dispatcher thread, when the delivery is delivered, dropped or replaced.
  // Must not block for long.
  std::function<void(const DeliveryOutcome&)> done;
};

struct DispatcherLimits {
  unsigned threads = 8;
  unsigned max_attempts = 8;
  Duration first_backoff = std::chrono::seconds(1);
  Duration max_backoff = std::chrono::minutes(5);
};

class Dispatcher {
 public:
  explicit Dispatcher(DispatcherLimits limits);
  // Stops at once: deliveries not finished are abandoned without their `done` (the records
  // they came from stay uncommitted, and are redone after a restart).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void submit(Delivery delivery);
  // Takes effect for the tries that follow (a reload).
  void set_limits(unsigned max_attempts, Duration max_backoff);
  // Deliveries submitted and not yet finished.
  std::size_t pending() const;
  // Waits until pending() is 0 or `timeout` passes; whether it is 0.
  bool drain(Duration timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd::notifier
