// The worker's waits, in one place: production values by default; tests pass milliseconds.
// (resync_interval and apply_timeout are config: operators set them.)
#pragma once

#include <chrono>

#include "gitopsd/config.hpp"

namespace gitopsd::worker {

struct WorkerTimings {
  // How long running applies may finish after SIGTERM before they are stopped.
  Duration shutdown_grace = std::chrono::seconds(30);
  // A partition's first waiting event is dispatched after at most this long, so events that
  // arrive together are applied together.
  Duration batch_window = std::chrono::milliseconds(20);
  // A partition whose waiting events are all resyncs (poll events) waits this long for more:
  // resyncs come in a steady trickle, and a batch of many costs the consumer one pause,
  // resume and commit instead of one each. A push in the same partition ends the wait.
  Duration resync_batch_window = std::chrono::seconds(1);
  // The consumer's poll timeout: how often the loop comes round when no event arrives.
  Duration poll_interval = std::chrono::milliseconds(50);
  // Rule 5: the wait before retry n (n = 1, 2, ...) is first_backoff * 2^(n-1), at most
  // max_backoff: 1 s, 2 s, 4 s ... 60 s.
  Duration first_backoff = std::chrono::seconds(1);
  Duration max_backoff = std::chrono::seconds(60);
  // Bounds connecting to the git host and each stall of a fetch.
  Duration fetch_timeout = std::chrono::seconds(60);
  // How often the consumer-lag gauge is refreshed.
  Duration lag_interval = std::chrono::seconds(5);

  // The wait before retry `retry` (1 = the first).
  Duration backoff(unsigned retry) const;
};

}  // namespace gitopsd::worker
