// Brings one repository's targets to its tracked branch for a batch of waiting events:
// fetch, plan (rules 2 and 3), apply with retries (rule 5), drift checks for resync events
// (rule 6), and every outcome published (results, state, DLQ) before reconcile() returns,
// so the caller may then commit the events' offsets (rule 1). A resync (poll) that finds no
// new commit and no drift publishes nothing: it shows in metrics only.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "gitopsd/config.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/metrics.hpp"
#include "gitopsd/records.hpp"
#include "gitopsd/worker/fetch_slots.hpp"
#include "gitopsd/worker/outcome_sink.hpp"
#include "gitopsd/worker/worker_timings.hpp"

namespace gitopsd::worker {

// What every target runs, as last published on the state topic; shared by the batches.
class StateCache {
 public:
  std::optional<StateRecord> get(const std::string& repository, const std::string& target) const;
  void put(const StateRecord& record);

 private:
  mutable std::mutex mutex_;
  std::map<std::string, StateRecord> records_;  // by "repository/target"
};

struct WorkerContext {
  // The config generation the reconciler was made from; a reload makes new reconcilers and
  // this keeps the old generation alive for those still running.
  std::shared_ptr<const Config> config;
  OutcomeSink* sink = nullptr;  // Kafka in production, a vector in tests
  Metrics* metrics = nullptr;
  StateCache* state = nullptr;
  std::string worker_id;
  WorkerTimings timings;  // backoff and fetch timeout
  FetchSlots* fetch_slots = nullptr;  // the worker's bound on fetches at once; none in tests
};

class Mirror;

class RepositoryReconciler {
 public:
  // `repository` is one of `context.config->repositories`. Opens (or creates) the mirror;
  // throws std::runtime_error when it cannot.
  RepositoryReconciler(const Repository& repository, WorkerContext context);
  ~RepositoryReconciler();

  // Handles `events` (oldest first, all for this repository). Returns false when an outcome
  // could not be published, or when `stop` came: then the events must not be committed (they
  // will come again). `stop` abandons retries and kills running commands (the shutdown grace
  // of the worker has passed); what it stopped is reported failed, not dead-lettered.
  bool reconcile(std::vector<Event> events, std::stop_token stop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd::worker
