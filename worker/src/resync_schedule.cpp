#include "gitopsd/worker/resync_schedule.hpp"

#include <algorithm>

namespace gitopsd::worker {
namespace {

// Products of an interval in nanoseconds and a count overflow 64 bits.
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

// The same on every host and in every version: the schedule must agree between workers.
std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// splitmix64's finalizer: spreads close inputs (names differing in one digit, cycle numbers
// one apart) over the whole range.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

ResyncSchedule::ResyncSchedule(Duration interval, std::vector<std::string> names)
    : interval_(std::max<Nanos>(std::chrono::duration_cast<Nanos>(interval), Nanos(1))),
      ranked_(std::move(names)) {
  std::sort(ranked_.begin(), ranked_.end(), [](const std::string& a, const std::string& b) {
    const auto ha = mix(fnv1a(a)), hb = mix(fnv1a(b));
    return ha != hb ? ha < hb : a < b;
  });
  ranked_.erase(std::unique(ranked_.begin(), ranked_.end()), ranked_.end());
}

ResyncSchedule::Nanos ResyncSchedule::slot(std::size_t rank, std::int64_t cycle) const {
  const auto n = static_cast<Int128>(ranked_.size());
  const auto i = static_cast<Int128>(interval_.count());
  const auto start = static_cast<std::int64_t>(static_cast<Int128>(rank) * i / n);
  const auto end = static_cast<std::int64_t>(static_cast<Int128>(rank + 1) * i / n);
  // Jitter within the slot, new every cycle: the same repository is not always first.
  const std::uint64_t fraction = mix(fnv1a(ranked_[rank]) ^ static_cast<std::uint64_t>(cycle)) >> 32;
  const auto jitter = static_cast<std::int64_t>(
      (static_cast<UInt128>(fraction) * static_cast<UInt128>(end - start)) >> 32);
  return Nanos(cycle * interval_.count() + start + jitter);
}

std::vector<std::string> ResyncSchedule::due(Clock::time_point now) {
  const Nanos t = std::chrono::duration_cast<Nanos>(now.time_since_epoch());
  if (!last_ || ranked_.empty()) {
    last_ = t;
    return {};
  }
  const Nanos last = *last_;
  if (t <= last) return {};  // the clock stepped back: wait until it passes `last` again
  last_ = t;
  if (t - last >= interval_) return ranked_;
  std::vector<std::string> due;
  const auto n = static_cast<std::int64_t>(ranked_.size());
  const std::int64_t i = interval_.count();
  // The slots in (last, t] lie in the cycle of `last` or the next one (t - last < interval).
  for (std::int64_t cycle = floor_div(last.count(), i); cycle <= floor_div(t.count(), i); ++cycle) {
    const std::int64_t base = cycle * i;
    auto rank_at = [&](std::int64_t since_base) {
      const auto r = static_cast<std::int64_t>(static_cast<Int128>(since_base) * n / i);
      return std::clamp<std::int64_t>(r, 0, n - 1);
    };
    // One rank either side: the rounding of rank_at never hides a slot.
    const std::int64_t low = std::max<std::int64_t>(0, rank_at(last.count() - base) - 1);
    const std::int64_t high = std::min<std::int64_t>(n - 1, rank_at(t.count() - base) + 1);
    for (std::int64_t r = low; r <= high; ++r) {
      const Nanos s = slot(static_cast<std::size_t>(r), cycle);
      if (s > last && s <= t) due.push_back(ranked_[static_cast<std::size_t>(r)]);
    }
  }
  return due;
}

std::optional<ResyncSchedule::Clock::time_point> ResyncSchedule::next_slot(
    const std::string& name, Clock::time_point now) const {
  const auto found = std::find(ranked_.begin(), ranked_.end(), name);
  if (found == ranked_.end()) return std::nullopt;
  const auto rank = static_cast<std::size_t>(found - ranked_.begin());
  const Nanos t = std::chrono::duration_cast<Nanos>(now.time_since_epoch());
  for (std::int64_t cycle = floor_div(t.count(), interval_.count());; ++cycle) {
    const Nanos s = slot(rank, cycle);
    if (s > t) return Clock::time_point(std::chrono::duration_cast<Clock::duration>(s));
  }
}

}  // namespace gitopsd::worker
