// worker.max_parallel_fetches: how many fetches (connections to Git hosts) one worker runs at
// once, across all its partitions' batches. Thread-safe.
#pragma once

#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <utility>

namespace gitopsd::worker {

class FetchSlots {
 public:
  explicit FetchSlots(unsigned limit) : limit_(limit) {}

  // A reload's new limit; fetches running above it finish, none starts until below it.
  void set_limit(unsigned limit) {
    {
      std::lock_guard lock(mutex_);
      limit_ = limit;
    }
    freed_.notify_all();
  }

  // Holds a slot while it lives; empty when `stop` came first.
  class Slot {
   public:
    Slot() = default;
    explicit Slot(FetchSlots* owner) : owner_(owner) {}
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (owner_) owner_->release();
    }
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    FetchSlots* owner_ = nullptr;
  };

  Slot acquire(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    if (!freed_.wait(lock, stop, [this] { return in_use_ < limit_; })) return Slot();
    ++in_use_;
    return Slot(this);
  }

  unsigned in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
  }

 private:
  void release() {
    {
      std::lock_guard lock(mutex_);
      --in_use_;
    }
    freed_.notify_one();
  }

  mutable std::mutex mutex_;
  std::condition_variable_any freed_;
  unsigned limit_;
  unsigned in_use_ = 0;
};

}  // namespace gitopsd::worker
