// What a listener does when accept fails (EMFILE, ENFILE, ENOBUFS, ...). Such a failure
// lasts (descriptors stay exhausted until connections close), so retrying at once spins a
// core and writes a log line per try. Instead the next accept waits, 5 ms doubling up to
// 1 s, back to none after a success; and a failure is logged at most once a second, with
// how many went unlogged since. Not thread-safe: one per accept loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace gitopsd {

class AcceptBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kFirstDelay = std::chrono::milliseconds(5);
  static constexpr Clock::duration kMaxDelay = std::chrono::seconds(1);
  static constexpr Clock::duration kLogInterval = std::chrono::seconds(1);

  struct Step {
    Clock::duration delay;                 // wait this long before the next accept
    std::optional<std::uint64_t> log;      // set: log this failure now, saying how many
                                           // failures since the last line went unlogged
  };
  // An accept failed at `now`.
  Step failed(Clock::time_point now);
  // An accept succeeded: the next failure waits kFirstDelay again.
  void succeeded() { delay_ = Clock::duration::zero(); }

 private:
  Clock::duration delay_ = Clock::duration::zero();
  std::optional<Clock::time_point> logged_at_;
  std::uint64_t unlogged_ = 0;
};

}  // namespace gitopsd
