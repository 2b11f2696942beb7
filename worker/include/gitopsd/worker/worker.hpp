// gitopsd-worker's engine: a member of the Kafka consumer group on the events topic.
// Each assigned partition is worked one batch at a time: its waiting events are handed to
// the repositories' reconcilers on a thread while the partition is paused (the consumer keeps
// polling, so a long apply never trips max.poll.interval.ms), and the batch's offsets are
// stored only once every outcome is published (rule 1); a batch's repositories are reconciled
// side by side, at most worker.max_parallel_fetches fetching at once in the whole worker.
// Each repository this worker owns gets a resync (poll) event once per resync_interval, in its
// own slot of the interval (ResyncSchedule), so the Git hosts see an even rate (rule 6).
#pragma once

#include <memory>
#include <stop_token>

#include "gitopsd/config.hpp"
#include "gitopsd/metrics.hpp"
#include "gitopsd/worker/worker_timings.hpp"

namespace gitopsd::worker {

class Worker {
 public:
  // `instance` is gitopsd-worker@N's N (0: none): instance N joins the group as the static
  // member "<host name>-<N>", so restarted within the session timeout it gets its partitions
  // back without a rebalance (and stopped, its partitions wait that long for it).
  // Throws std::runtime_error when librdkafka refuses the settings.
  Worker(std::shared_ptr<const Config> config, Metrics& metrics, const WorkerTimings& timings = {},
         unsigned instance = 0);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Consumes until `stop` is requested (under systemd: READY=1 once it joined the group,
  // WATCHDOG=1 from the poll loop); then lets running applies finish (or, after the
  // grace period, stops them and leaves their events uncommitted), commits what is done and
  // leaves the group.
  void run(std::stop_token stop);

  // True while the Kafka cluster is reachable.
  bool ready() const;

  // Live reload: hands `config` to the poll loop, which takes it within one turn (50 ms)
  // between events. Repositories added are applied from then on and removed ones refused;
  // a changed repository's next batch runs under the new config, a running batch finishes
  // under the old one. The consumer, producer, group and state_dir stay as they are (see
  // config_reload.hpp). Thread-safe.
  void reload(std::shared_ptr<const Config> config);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd::worker
