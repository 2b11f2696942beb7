#include "gitopsd/notifier/dispatcher.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>
#include <vector>

namespace gitopsd::notifier {
namespace {

using Clock = std::chrono::steady_clock;

struct Lane {
  std::deque<Delivery> queue;
  unsigned attempts = 0;   // tries made of queue.front()
  bool busy = false;       // a thread is trying its front
  bool scheduled = false;  // waiting in `ready`, in `timers` or on its host
};

struct Host {
  Clock::time_point gate{};  // no request to it before this
  bool failing = false;      // its last answer was a failure to reach it, a 5xx or a limit
  unsigned in_flight = 0;
  std::vector<std::string> waiting;  // lanes held while one request probes a failing host
};

}  // namespace

struct Dispatcher::Impl {
  explicit Impl(DispatcherLimits l) : limits(l) {}

  DispatcherLimits limits;
  mutable std::mutex mutex;
  std::condition_variable wake;     // a lane became ready, a timer is due sooner, or stop
  std::condition_variable drained;  // pending fell to 0
  std::unordered_map<std::string, Lane> lanes;
  std::unordered_map<std::string, Host> hosts;
  std::deque<std::string> ready;
  using Timer = std::pair<Clock::time_point, std::string>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  std::size_t pending = 0;
  bool stopping = false;
  std::vector<std::jthread> threads;

  void schedule(const std::string& name, Lane& lane, Clock::time_point at) {
    lane.scheduled = true;
    if (at <= Clock::now()) {
      ready.push_back(name);
    } else {
      timers.emplace(at, name);
    }
    wake.notify_one();
  }

  // 1 s, 2 s, 4 s ... capped; never shorter than what the host asked for (also capped).
  Duration backoff(unsigned attempts, const Verdict& verdict) const {
    Duration delay = limits.first_backoff;
    for (unsigned i = 1; i < attempts && delay < limits.max_backoff; ++i) delay *= 2;
    if (verdict.not_before) {
      const auto asked = std::chrono::duration_cast<Duration>(*verdict.not_before -
                                                              std::chrono::system_clock::now());
      delay = std::max(delay, asked);
    }
    return std::clamp(delay, Duration(1), limits.max_backoff);
  }

  // Takes the lane's front out as finished; its `done` is called by the caller, unlocked.
  Delivery finish_front(Lane& lane) {
    Delivery d = std::move(lane.queue.front());
    lane.queue.pop_front();
    lane.attempts = 0;
    --pending;
    return d;
  }

  void release_waiting(Host& host, Clock::time_point at) {
    for (const std::string& name : host.waiting) schedule(name, lanes[name], at);
    host.waiting.clear();
  }

  void run() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      const auto now = Clock::now();
      while (!timers.empty() && timers.top().first <= now) {
        ready.push_back(timers.top().second);
        timers.pop();
      }
      if (ready.empty()) {
        if (timers.empty()) {
          wake.wait(lock);
        } else {
          wake.wait_until(lock, timers.top().first);
        }
        continue;
      }
      const std::string name = std::move(ready.front());
      ready.pop_front();
      Lane& lane = lanes[name];
      lane.scheduled = false;
      if (lane.busy || lane.queue.empty()) continue;
      const std::string host_name = lane.queue.front().host;
      Host& host = hosts[host_name];
      if (host.gate > now) {
        schedule(name, lane, host.gate);
        continue;
      }
      if (host.failing && host.in_flight > 0) {  // one probe at a time to a failing host
        lane.scheduled = true;
        host.waiting.push_back(name);
        continue;
      }
      lane.busy = true;
      ++host.in_flight;
      const auto send = lane.queue.front().send;  // a copy: the lane may change meanwhile
      lock.unlock();
      const Verdict verdict = judge(send(), std::chrono::system_clock::now());
      lock.lock();
      lane.busy = false;
      --host.in_flight;
      const unsigned attempts = ++lane.attempts;
      std::optional<Delivery> finished;
      DeliveryOutcome outcome{.kind = DeliveryOutcome::Kind::delivered, .attempts = attempts, .last = verdict};
      // A host that answers with anything but a 5xx or a limit is up, whatever it said.
      const bool host_trouble = verdict.kind == Verdict::Kind::retry &&
                                (verdict.rate_limited || verdict.http_status == 0 || verdict.http_status >= 500);
      if (verdict.kind == Verdict::Kind::retry && attempts < limits.max_attempts) {
        const auto at = Clock::now() + backoff(attempts, verdict);
        if (host_trouble) {
          host.failing = true;
          host.gate = std::max(host.gate, at);
          release_waiting(host, host.gate);
        }
        schedule(name, lane, at);
      } else {
        if (verdict.kind != Verdict::Kind::done) outcome.kind = DeliveryOutcome::Kind::dropped;
        if (!host_trouble) {
          host.failing = false;
          release_waiting(host, Clock::now());
        } else {
          host.gate = std::max(host.gate, Clock::now() + backoff(attempts, verdict));
          release_waiting(host, host.gate);
        }
        finished = finish_front(lane);
        if (!lane.queue.empty()) schedule(name, lane, Clock::now());
      }
      if (finished) {
        lock.unlock();
        if (finished->done) finished->done(outcome);
        lock.lock();
        if (pending == 0) drained.notify_all();
      }
    }
  }
};

Dispatcher::Dispatcher(DispatcherLimits limits) : impl_(std::make_unique<Impl>(limits)) {
  for (unsigned i = 0; i < std::max(1u, limits.threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->run(); });
  }
}

Dispatcher::~Dispatcher() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->threads.clear();  // joins; a try under way ends within its request timeout
}

void Dispatcher::submit(Delivery delivery) {
  std::optional<Delivery> replaced;
  {
    std::lock_guard lock(impl_->mutex);
    Lane& lane = impl_->lanes[delivery.lane];
    if (!delivery.replaces.empty()) {
      // Never the front while a thread tries it: that try's outcome is still to come.
      const auto first = lane.queue.begin() + (lane.busy ? 1 : 0);
      const auto it = std::find_if(first, lane.queue.end(), [&](const Delivery& queued) {
        return queued.replaces == delivery.replaces;
      });
      if (it != lane.queue.end()) {
        if (it == lane.queue.begin()) lane.attempts = 0;
        replaced = std::move(*it);
        lane.queue.erase(it);
        --impl_->pending;
      }
    }
    lane.queue.push_back(std::move(delivery));
    ++impl_->pending;
    if (!lane.busy && !lane.scheduled) impl_->schedule(lane.queue.back().lane, lane, Clock::now());
  }
  if (replaced && replaced->done) {
    replaced->done(DeliveryOutcome{.kind = DeliveryOutcome::Kind::replaced, .attempts = 0, .last = {}});
  }
}

void Dispatcher::set_limits(unsigned max_attempts, Duration max_backoff) {
  std::lock_guard lock(impl_->mutex);
  impl_->limits.max_attempts = max_attempts;
  impl_->limits.max_backoff = max_backoff;
}

std::size_t Dispatcher::pending() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->pending;
}

bool Dispatcher::drain(Duration timeout) {
  std::unique_lock lock(impl_->mutex);
  return impl_->drained.wait_for(lock, timeout, [&] { return impl_->pending == 0; });
}

}  // namespace gitopsd::notifier
