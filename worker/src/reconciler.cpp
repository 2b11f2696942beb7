#include "gitopsd/worker/reconciler.hpp"

#include <algorithm>
#include <condition_variable>

#include "gitopsd/crypto.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/worker/applier.hpp"
#include "gitopsd/worker/mirror.hpp"
#include "gitopsd/worker/plan.hpp"
#include "repository_lock.hpp"

namespace gitopsd::worker {

using Clock = std::chrono::steady_clock;

std::optional<StateRecord> StateCache::get(const std::string& repository,
                                           const std::string& target) const {
  std::lock_guard lock(mutex_);
  auto it = records_.find(target_key(repository, target));
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

void StateCache::put(const StateRecord& record) {
  std::lock_guard lock(mutex_);
  records_[target_key(record.repository, record.target)] = record;
}

namespace {

const std::string kNoCommit(40, '0');

// Sleeps for `d` unless `stop` is requested first; returns false when stopped.
bool sleep_unless_stopped(Duration d, std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  // wait_for returns the predicate's value, not whether it was stopped: ask the token.
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

std::string now_timestamp() { return format_timestamp(std::chrono::system_clock::now()); }

using Status = ResultStatus;

// What a result does to the target's state record.
enum class StateUpdate {
  by_status,  // applied/drift_corrected: the new state; failed: its last_error; else nothing
  none,       // a result about the event, not the target (superseded, not on branch)
  in_sync,    // a drift check found the target as recorded: clears last_error
};

// An event without `targets` names every target (only manual syncs name some).
bool names_target(const Event& event, const Target& target) {
  return event.targets.empty() ||
         std::find(event.targets.begin(), event.targets.end(), target.name) != event.targets.end();
}

// Resync (poll) and manual-sync events name no commit: they ask for the branch's tip.
bool asks_for_tip(const Event& event) {
  return event.kind == EventKind::poll || event.kind == EventKind::manual;
}

Duration elapsed_since(Clock::time_point start) {
  return std::chrono::duration_cast<Duration>(Clock::now() - start);
}

}  // namespace

struct RepositoryReconciler::Impl {
  Impl(const Repository& r, WorkerContext c)
      : repository(r),
        context(std::move(c)),
        mirror(r, context.config->worker.state_dir),
        log(logger("apply")) {
    for (const Target& t : repository.targets)
      appliers.push_back(make_applier(repository, t, worker(), mirror));
  }

  const Repository& repository;
  WorkerContext context;
  Mirror mirror;
  std::vector<std::unique_ptr<Applier>> appliers;  // one per repository.targets[i]
  std::shared_ptr<spdlog::logger> log;
  bool published_all = true;
  // What this batch's results said, for gitopsd_resyncs_total.
  struct Seen {
    bool failed = false, drift = false, applied = false;
  } seen;

  const WorkerConfig& worker() const { return context.config->worker; }

  // ---- publishing ---------------------------------------------------------------------

  void publish_result(Result r, Status status, const std::string& tree = {},
                      StateUpdate update = StateUpdate::by_status) {
    r.repository = repository.name;
    r.worker = context.worker_id;
    r.status = status;
    if (r.finished_at.empty()) r.finished_at = now_timestamp();
    if (r.started_at.empty()) r.started_at = r.finished_at;
    const std::string status_name(enum_name(status));
    seen.failed = seen.failed || status == Status::failed;
    seen.drift = seen.drift || status == Status::drift_detected || status == Status::drift_corrected;
    seen.applied = seen.applied || status == Status::applied;
    context.metrics
        ->counter("gitopsd_applies_total", "Target outcomes by repository, target and status",
                  {{"repository", r.repository}, {"target", r.target}, {"status", status_name}})
        .inc();
    log->info("result event_id={} repository={} target={} commit={} status={} attempt={} "
              "duration_ms={} message=\"{}\"",
              r.event_id, r.repository, r.target, r.commit.substr(0, 12), status_name, r.attempt,
              r.duration_ms, r.message);
    published_all = context.sink->publish_result(r) && published_all;
    if (update == StateUpdate::none) return;
    if ((status == Status::applied || status == Status::drift_corrected) && !tree.empty()) {
      publish_state({r.repository, r.target, r.commit, tree, r.status, r.finished_at, {}});
    } else if (status == Status::failed) {
      // The target keeps running what the state names; the error is kept beside it, so
      // `gitopsctl status` reads one compacted topic instead of the whole audit log.
      auto s = context.state->get(r.repository, r.target)
                   .value_or(StateRecord{r.repository, r.target, "", "", r.status, "", {}});
      s.last_error = LastError{r.finished_at, r.event_id, r.commit, r.message};
      publish_state(s);
    } else if (update == StateUpdate::in_sync) {
      auto s = context.state->get(r.repository, r.target);
      if (s && s->last_error) {
        s->last_error.reset();
        publish_state(*s);
      }
    }
  }

  void publish_state(const StateRecord& s) {
    published_all = context.sink->publish_state(s) && published_all;
    if (published_all) context.state->put(s);
  }

  void dead_letter(const Event& event, const std::string& error, unsigned attempts) {
    const DeadLetter dlq{.event = event, .error = error, .attempts = attempts,
                         .worker = context.worker_id, .failed_at = now_timestamp()};
    published_all = context.sink->dead_letter(repository.name, to_json(dlq)) && published_all;
  }

  // One result per target the event names.
  void result_for_every_target(const Event& event, const std::string& commit, Status status,
                               const std::string& message,
                               StateUpdate update = StateUpdate::by_status) {
    for (const Target& t : repository.targets) {
      if (!names_target(event, t)) continue;
      Result r{.event_id = event.event_id, .target = t.name, .commit = commit, .message = message};
      publish_result(std::move(r), status, {}, update);
    }
  }

  // ---- git -----------------------------------------------------------------------------

  // One fetch, in one of the worker's fetch slots (max_parallel_fetches).
  std::variant<std::string, GitError> fetch_once(std::stop_token stop) {
    std::optional<FetchSlots::Slot> slot;
    if (context.fetch_slots != nullptr) {
      slot.emplace(context.fetch_slots->acquire(stop));
      if (!*slot) return GitError{"stopped while waiting for a fetch slot", true};
    }
    auto started = Clock::now();
    auto result = mirror.fetch(context.timings.fetch_timeout);
    // One series for all repositories: per repository, 19 lines each, a worker with thousands
    // of them would serve megabytes per scrape (per repository: the resync gauge).
    context.metrics
        ->histogram("gitopsd_fetch_duration_seconds",
                    "Time to fetch a repository's branch (mostly a ref listing, on a resync)")
        .observe(std::chrono::duration<double>(Clock::now() - started).count());
    return result;
  }

  // The branch's tip, or why it could not be fetched.
  std::variant<std::string, ApplyFailure> fetch_with_retries(std::stop_token stop,
                                                             unsigned& attempts) {
    ApplyFailure last;
    for (attempts = 1; attempts <= worker().max_attempts; ++attempts) {
      auto result = fetch_once(stop);
      if (auto* tip = std::get_if<std::string>(&result)) return *tip;
      last = git_failure(std::get<GitError>(result), "fetch failed: ");
      logger("git")->warn("fetch failed repository={} attempt={} retryable={} error=\"{}\"",
                          repository.name, attempts, last.retryable,
                          std::get<GitError>(result).message);
      if (!last.retryable || attempts == worker().max_attempts) break;
      if (!sleep_unless_stopped(context.timings.backoff(attempts), stop)) break;
    }
    return last;
  }

  // ---- applying ------------------------------------------------------------------------

  // Rule 5: retried with backoff up to max_attempts while the failure is retryable.
  std::variant<Applied, ApplyFailure> apply_with_retries(std::size_t target,
                                                         const ApplyRequest& request,
                                                         std::stop_token stop, unsigned& attempts) {
    std::variant<Applied, ApplyFailure> last;
    for (attempts = 1; attempts <= worker().max_attempts; ++attempts) {
      last = appliers[target]->apply(request, stop);
      const auto* failed = std::get_if<ApplyFailure>(&last);
      if (!failed || !failed->retryable || attempts == worker().max_attempts) break;
      log->warn("apply failed repository={} target={} attempt={} error=\"{}\"", repository.name,
                repository.targets[target].name, attempts, failed->message);
      if (!sleep_unless_stopped(context.timings.backoff(attempts), stop)) break;
    }
    return last;
  }

  // Rule 6.
  void drift_check(const Event& event, std::size_t target, const TargetPlan& plan,
                   const std::string& tip, std::stop_token stop) {
    const Target& t = repository.targets[target];
    auto started_at = now_timestamp();
    auto started = Clock::now();
    Result r{.event_id = event.event_id, .target = t.name, .commit = tip, .started_at = started_at};
    auto drift = appliers[target]->check_drift(tip, plan.tree, stop);
    auto status = Status::failed;
    auto update = StateUpdate::by_status;
    if (std::holds_alternative<InSync>(drift)) {
      // A resync finding the target as recorded has nothing to say, unless it clears an
      // error: the audit log holds what happened (rule 6).
      const auto recorded = context.state->get(repository.name, t.name);
      if (event.kind == EventKind::poll && !(recorded && recorded->last_error)) return;
      status = Status::unchanged;
      r.message = "in sync";
      update = StateUpdate::in_sync;
    } else if (auto* failed = std::get_if<ApplyFailure>(&drift)) {
      r.message = failed->message;
      r.output_tail = failed->output_tail;
    } else {
      const auto& found = std::get<DriftFound>(drift).description;
      context.metrics->counter("gitopsd_drift_found_total", "Drift found by resync checks",
                               {{"repository", repository.name}, {"target", t.name}}).inc();
      if (!t.self_heal) {
        status = Status::drift_detected;
        r.message = found + "; self_heal is off";
      } else {
        unsigned attempts = 0;
        auto applied = apply_with_retries(
            target, {.commit = tip, .tree = plan.tree, .before = tip, .full = true}, stop, attempts);
        r.attempt = attempts;
        if (auto* not_corrected = std::get_if<ApplyFailure>(&applied)) {
          r.message = found + "; correction failed: " + not_corrected->message;
          r.output_tail = not_corrected->output_tail;
        } else {
          status = Status::drift_corrected;
          r.message = found + "; corrected";
          r.output_tail = std::get<Applied>(applied).output_tail;
          context.metrics->counter("gitopsd_drift_corrected_total", "Drift corrected by resync",
                                   {{"repository", repository.name}, {"target", t.name}}).inc();
        }
      }
    }
    r.duration_ms = elapsed_since(started).count();
    publish_result(std::move(r), status, plan.tree, update);
  }

  void apply_target(const Event& event, std::size_t target, const TargetPlan& plan,
                    const std::string& tip, bool drift_checks, std::stop_token stop) {
    const Target& t = repository.targets[target];
    if (plan.action == TargetAction::unchanged) {
      if (drift_checks) return drift_check(event, target, plan, tip, stop);
      Result r{.event_id = event.event_id, .target = t.name, .commit = tip,
               .message = "subtree " + t.path + " unchanged"};
      return publish_result(std::move(r), Status::unchanged);
    }
    if (plan.action == TargetAction::missing) {
      Result r{.event_id = event.event_id, .target = t.name, .commit = tip,
               .message = "path '" + t.path + "' is not in commit " + tip.substr(0, 12)};
      return publish_result(std::move(r), Status::failed);
    }
    auto started_at = now_timestamp();
    auto started = Clock::now();
    unsigned attempts = 0;
    auto outcome = apply_with_retries(
        target, {.commit = tip, .tree = plan.tree, .before = event.before, .full = false}, stop,
        attempts);
    const auto elapsed = elapsed_since(started);
    context.metrics->histogram("gitopsd_apply_duration_seconds", "Time to apply a target",
                               {{"repository", repository.name}, {"target", t.name}})
        .observe(std::chrono::duration<double>(elapsed).count());
    const auto* failed = std::get_if<ApplyFailure>(&outcome);
    Result r{.event_id = event.event_id,
             .target = t.name,
             .commit = tip,
             .rollback = plan.rollback,
             .attempt = attempts,
             .started_at = started_at,
             .duration_ms = elapsed.count(),
             .message = failed ? failed->message : std::get<Applied>(outcome).message,
             .output_tail = failed ? failed->output_tail : std::get<Applied>(outcome).output_tail};
    publish_result(std::move(r), failed ? Status::failed : Status::applied, plan.tree);
    // Stopped by the shutdown: reported, but not dead-lettered, since the batch is left
    // uncommitted and the partition's next owner applies the event again.
    if (failed && !stop.stop_requested())
      dead_letter(event, t.name + ": " + failed->message, attempts);
  }

  bool reconcile(std::vector<Event> events, std::stop_token stop) {
    published_all = true;
    seen = {};
    const bool resync = std::any_of(events.begin(), events.end(),
                                    [](const Event& e) { return e.kind == EventKind::poll; });
    const bool ok = reconcile_events(events, stop);
    if (resync) count_resync();
    return ok;
  }

  // Rule 6's metrics: a quiet resync publishes no result, so it shows here.
  void count_resync() {
    const char* outcome = seen.failed    ? "failed"
                          : seen.drift   ? "drift"
                          : seen.applied ? "applied"
                                         : "quiet";
    context.metrics
        ->counter("gitopsd_resyncs_total",
                  "Resyncs of a repository by what they found: quiet (no new commit, no drift: "
                  "no result published), applied, drift, failed",
                  {{"outcome", outcome}})
        .inc();
    context.metrics
        ->gauge("gitopsd_resync_last_timestamp_seconds",
                "When the repository was last re-checked (Unix time)",
                {{"repository", repository.name}})
        .set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }

  bool reconcile_events(std::vector<Event>& events, std::stop_token stop) {
    unsigned fetch_attempts = 0;
    auto fetched = fetch_with_retries(stop, fetch_attempts);
    if (auto* failed = std::get_if<ApplyFailure>(&fetched)) {
      for (const Event& e : events) {
        result_for_every_target(e, asks_for_tip(e) ? kNoCommit : e.after, Status::failed,
                                failed->message);
        if (!stop.stop_requested()) dead_letter(e, failed->message, fetch_attempts);
      }
      return published_all && !stop.stop_requested();
    }
    const std::string tip = std::get<std::string>(fetched);
    bool drift_checks = false;
    for (Event& e : events) {
      // They compare the targets with the tip just fetched (rule 6), so `gitopsctl sync`
      // also corrects drift.
      if (asks_for_tip(e)) {
        drift_checks = true;
        e.after = tip;
      }
    }
    PlanInput input;
    input.repository = &repository;
    input.events = events;
    input.tip = tip;
    input.is_ancestor_or_same = [this](const std::string& c, const std::string& d) {
      return mirror.is_ancestor_or_same(c, d);
    };
    input.subtree_at_tip = [this, &tip](const std::string& path) { return mirror.subtree_id(tip, path); };
    for (const Target& t : repository.targets)
      if (auto s = context.state->get(repository.name, t.name)) input.state[t.name] = {s->commit, s->tree};
    Plan plan = plan_repository(input);

    const Event* carrier = nullptr;
    for (std::size_t i = 0; i < events.size(); ++i) {
      switch (plan.events[i]) {
        case EventVerdict::carrier:
          carrier = &events[i];
          break;
        case EventVerdict::superseded:
          if (events[i].kind == EventKind::poll) break;  // a resync has nothing to say
          result_for_every_target(events[i], tip, Status::superseded,
                                  "served by the apply of " + tip.substr(0, 12), StateUpdate::none);
          break;
        case EventVerdict::not_on_branch:
          result_for_every_target(events[i], events[i].after, Status::failed,
                                  "not on branch: " + events[i].after.substr(0, 12) + " is not reachable from " +
                                      repository.branch + " at " + tip.substr(0, 12),
                                  StateUpdate::none);
          break;
      }
    }
    if (carrier != nullptr) {
      for (std::size_t i = 0; i < repository.targets.size(); ++i) {
        // A target no waiting event on the branch names (a sync of other targets) is left alone.
        bool named = false;
        for (std::size_t e = 0; e < events.size(); ++e)
          named = named || (plan.events[e] != EventVerdict::not_on_branch &&
                            names_target(events[e], repository.targets[i]));
        if (named) apply_target(*carrier, i, plan.targets[i], tip, drift_checks, stop);
      }
    }
    // Stopped: what ran was reported, but the batch is done again by the next owner.
    return published_all && !stop.stop_requested();
  }
};

RepositoryReconciler::RepositoryReconciler(const Repository& repository, WorkerContext context)
    : impl_(std::make_unique<Impl>(repository, std::move(context))) {}

RepositoryReconciler::~RepositoryReconciler() = default;

bool RepositoryReconciler::reconcile(std::vector<Event> events, std::stop_token stop) {
  // Another worker on this state_dir may hold the repository (a rebalance hands it over
  // while the old owner still applies): wait for it, so two never fetch or apply it at once.
  std::optional<RepositoryLock> lock;
  try {
    lock = RepositoryLock::acquire(impl_->worker().state_dir, impl_->repository.name,
                                   RepositoryLock::Scope::reconcile, stop);
  } catch (const std::exception& e) {
    // state_dir became unusable under us: not this batch's fault, and no reason to end the
    // worker; the events stay uncommitted and come again.
    impl_->log->error("repository={} {}", impl_->repository.name, e.what());
    return false;
  }
  if (!lock) return false;  // stopped while waiting: the events come again
  const bool ok = impl_->reconcile(std::move(events), stop);
  // An idle repository holds no libgit2 handle, cache or pack map until its next batch.
  impl_->mirror.release();
  return ok;
}

}  // namespace gitopsd::worker
