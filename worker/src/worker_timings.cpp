#include "gitopsd/worker/worker_timings.hpp"

#include <algorithm>

namespace gitopsd::worker {

Duration WorkerTimings::backoff(unsigned retry) const {
  const unsigned doublings = std::min(retry == 0 ? 0u : retry - 1, 16u);
  return std::min<Duration>(first_backoff * (1u << doublings), max_backoff);
}

}  // namespace gitopsd::worker
