// When each repository is re-checked (rule 6): once per resync_interval, in its own slot, so
// the Git host sees an even rate instead of one burst per interval.
//
// The configured repositories are ranked by a hash of their name and the interval is cut
// into as many equal slots: repository of rank r is due at r slots into each cycle, plus a
// jitter within its slot that changes every cycle. Cycles are counted from the Unix epoch, so
// every worker with the same config computes the same times: after a rebalance a
// repository's new owner re-checks it when the old one would have, never twice in a cycle
// (each worker asks only for the repositories it owns).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd::worker {

class ResyncSchedule {
 public:
  using Clock = std::chrono::system_clock;

  // `names`: every configured repository (not only this worker's).
  ResyncSchedule(Duration interval, std::vector<std::string> names);

  // The repositories whose slot fell in (the previous call, now], each at most once, in
  // slot order. The first call only sets the start: a worker just started re-checks each
  // repository at its slot in the interval that follows, not all at once. After a gap of an
  // interval or more (a clock jump, a stalled loop), everything is due once.
  std::vector<std::string> due(Clock::time_point now);

  // When `name` is next due after `now` (for tests and the log).
  std::optional<Clock::time_point> next_slot(const std::string& name, Clock::time_point now) const;

 private:
  using Nanos = std::chrono::nanoseconds;
  // Slot start of rank `rank` in cycle `cycle`, with that cycle's jitter, since the epoch.
  Nanos slot(std::size_t rank, std::int64_t cycle) const;

  Nanos interval_;
  std::vector<std::string> ranked_;  // by hash of the name (ties by name)
  std::optional<Nanos> last_;        // since the epoch
};

}  // namespace gitopsd::worker
