#include "gitopsd/accept_backoff.hpp"

#include <algorithm>

namespace gitopsd {

AcceptBackoff::Step AcceptBackoff::failed(Clock::time_point now) {
  delay_ = delay_ == Clock::duration::zero() ? kFirstDelay : std::min(delay_ * 2, kMaxDelay);
  Step step{delay_, std::nullopt};
  if (!logged_at_ || now - *logged_at_ >= kLogInterval) {
    step.log = unlogged_;
    logged_at_ = now;
    unlogged_ = 0;
  } else {
    ++unlogged_;
  }
  return step;
}

}  // namespace gitopsd
