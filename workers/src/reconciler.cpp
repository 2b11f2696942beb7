#include "gitopsd/worker/reconciler.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gitopsd/crypto.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/worker/appliers.hpp"
#include "gitopsd/worker/mirror.hpp"
#include "gitopsd/worker/plan.hpp"

namespace gitopsd::worker {

namespace fs = std::filesystem;
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

// How one attempt at something ended; `retryable` decides between another attempt and
// failing for good (rule 5). The one place failures are classified is where they are built.
struct Attempt {
  bool ok = false;
  bool retryable = false;
  std::string message;
  std::string output_tail;
};

// Sleeps for `d` unless `stop` is requested first; returns false when stopped.
bool sleep_unless_stopped(Duration d, std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  // wait_for returns the predicate's value, not whether it was stopped: ask the token.
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

// 1 s, 2 s, 4 s ... capped at 60 s.
Duration backoff(unsigned attempt) {
  return std::min<Duration>(std::chrono::seconds(1) * (1u << std::min(attempt, 6u)),
                            std::chrono::seconds(60));
}

std::string now_timestamp() { return format_timestamp(std::chrono::system_clock::now()); }

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

}  // namespace

struct RepositoryReconciler::Impl {
  Impl(const Repository& r, WorkerContext c)
      : repository(r),
        context(std::move(c)),
        mirror(r, context.config->worker.state_dir),
        log(logger("apply")) {}

  const Repository& repository;
  WorkerContext context;
  Mirror mirror;
  std::shared_ptr<spdlog::logger> log;
  bool published_all = true;

  const WorkerConfig& worker() const { return context.config->worker; }

  // ---- publishing ---------------------------------------------------------------------

  void publish(const std::string& topic, const std::string& key, const std::string& value) {
    auto report = context.producer->produce_and_wait(topic, key, value);
    if (!report.ok) {
      published_all = false;
      logger("kafka")->error("publish to {} failed key={} error=\"{}\"", topic, key, report.error);
    }
  }

  void publish_result(Result r, const std::string& tree = {},
                      StateUpdate update = StateUpdate::by_status) {
    r.repository = repository.name;
    r.worker = context.worker_id;
    if (r.finished_at.empty()) r.finished_at = now_timestamp();
    if (r.started_at.empty()) r.started_at = r.finished_at;
    context.metrics
        ->counter("gitopsd_applies_total", "Target outcomes by repository, target and status",
                  {{"repository", r.repository}, {"target", r.target}, {"status", r.status}})
        .inc();
    log->info("result event_id={} repository={} target={} commit={} status={} attempt={} "
              "duration_ms={} message=\"{}\"",
              r.event_id, r.repository, r.target, r.commit.substr(0, 12), r.status, r.attempt,
              r.duration_ms, r.message);
    publish(context.config->kafka.topics.results, target_key(r.repository, r.target), to_json(r));
    if (update == StateUpdate::none) return;
    if ((r.status == "applied" || r.status == "drift_corrected") && !tree.empty()) {
      StateRecord s{r.repository, r.target, r.commit, tree, r.status, r.finished_at, {}};
      publish_state(s);
    } else if (r.status == "failed") {
      // The target keeps running what the state names; the error is kept beside it, so
      // `gitopsctl status` reads one compacted topic instead of the whole audit log.
      auto s = context.state->get(r.repository, r.target)
                   .value_or(StateRecord{r.repository, r.target, "", "", "failed", "", {}});
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
    publish(context.config->kafka.topics.state, target_key(s.repository, s.target), to_json(s));
    if (published_all) context.state->put(s);
  }

  void dead_letter(const Event& event, const std::string& error, unsigned attempts) {
    boost::json::object dlq{{"event", boost::json::parse(to_json(event))},
                            {"error", error},
                            {"attempts", attempts},
                            {"worker", context.worker_id},
                            {"failed_at", now_timestamp()}};
    publish(context.config->kafka.topics.dlq, repository.name, boost::json::serialize(dlq));
  }

  // One result per target the event names.
  void result_for_every_target(const Event& event, const std::string& commit,
                               const std::string& status, const std::string& message,
                               StateUpdate update = StateUpdate::by_status) {
    for (const Target& t : repository.targets) {
      if (!names_target(event, t)) continue;
      Result r;
      r.event_id = event.event_id;
      r.target = t.name;
      r.commit = commit;
      r.status = status;
      r.message = message;
      publish_result(std::move(r), {}, update);
    }
  }

  // ---- git -----------------------------------------------------------------------------

  std::variant<std::string, std::string> fetch_with_retries(std::stop_token stop, unsigned& attempts) {
    std::string last_error;
    for (attempts = 1; attempts <= worker().max_attempts; ++attempts) {
      auto started = Clock::now();
      auto result = mirror.fetch(std::chrono::seconds(60));
      context.metrics
          ->histogram("gitopsd_fetch_duration_seconds", "Time to fetch a repository's branch",
                      {{"repository", repository.name}})
          .observe(std::chrono::duration<double>(Clock::now() - started).count());
      if (auto* tip = std::get_if<std::string>(&result))
        return std::variant<std::string, std::string>(std::in_place_index<0>, *tip);
      const auto& error = std::get<GitError>(result);
      last_error = error.message;
      logger("git")->warn("fetch failed repository={} attempt={} retryable={} error=\"{}\"",
                          repository.name, attempts, error.retryable, error.message);
      if (!error.retryable || attempts == worker().max_attempts) break;
      if (!sleep_unless_stopped(backoff(attempts - 1), stop)) break;
    }
    return std::variant<std::string, std::string>(std::in_place_index<1>, "fetch failed: " + last_error);
  }

  BlobSource blob_source() {
    return {[this](const std::string& id) { return mirror.blob_size(id); },
            [this](const std::string& id) { return mirror.read_blob(id); }};
  }

  FilesOptions files_options(const Target& t) const {
    FilesOptions options{.max_file_bytes = worker().max_file_bytes};
    if (const auto* files_apply = std::get_if<FilesApply>(&t.apply))
      options.switch_mode = files_apply->switch_mode;
    return options;
  }

  // ---- appliers ------------------------------------------------------------------------

  std::map<std::string, std::string> environment(const Target& target, const std::string& commit,
                                                 const std::string& before) {
    return command_environment({{"GITOPSD_REPOSITORY", repository.name},
                                {"GITOPSD_TARGET", target.name},
                                {"GITOPSD_COMMIT", commit},
                                {"GITOPSD_BEFORE", before}});
  }

  // Where the process group of a target's running command is recorded (CommandSpec::group_file).
  std::string group_file(const Target& t) const {
    auto dir = fs::path(worker().state_dir) / "running" / repository.name;
    std::error_code ec;
    fs::create_directories(dir, ec);
    return (dir / t.name).string();
  }

  Attempt run(const Target& t, const std::vector<std::string>& argv, const std::string& dir,
              std::map<std::string, std::string> env, std::stop_token stop) {
    CommandSpec spec{.argv = argv, .working_dir = dir, .env = std::move(env),
                     .timeout = worker().apply_timeout, .group_file = group_file(t)};
    auto r = run_command(spec, stop);
    Attempt a{.output_tail = r.output_tail};
    if (!r.started) {
      a.message = r.error;
    } else if (r.timed_out) {
      a.message = argv[0] + " killed after apply_timeout";  // a retry would hang as long again
    } else if (r.stopped) {
      a.message = argv[0] + " stopped: worker shutting down";
      a.retryable = true;
    } else if (r.exit_code != 0) {
      a.message = argv[0] + (r.signal ? " killed by signal " + std::to_string(r.signal)
                                      : " exited with " + std::to_string(r.exit_code));
      a.retryable = true;
    } else {
      a.ok = true;
    }
    return a;
  }

  std::variant<std::vector<TreeFile>, Attempt> files_at(const std::string& commit, const Target& t) {
    auto files = mirror.list_files(commit, t.path);
    if (auto* error = std::get_if<GitError>(&files))
      return Attempt{.retryable = error->retryable, .message = error->message};
    return std::get<std::vector<TreeFile>>(std::move(files));
  }

  // ---- what this host's `files` destinations hold ---------------------------------------
  // `<state_dir>/applied/<repository>/<target>.json`: {dest, tree} written after a `files`
  // apply succeeded and removed before one starts, so it only ever names a tree `dest` was
  // made to hold completely. It lets the next apply touch only what changed since that tree.
  // Anything else changed in `dest` meanwhile is drift, which the resync check finds.

  fs::path applied_record(const Target& t) const {
    return fs::path(worker().state_dir) / "applied" / repository.name / (t.name + ".json");
  }

  std::optional<std::string> applied_tree(const Target& t, const std::string& dest) const {
    std::ifstream in(applied_record(t));
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto value = boost::json::parse(text.str(), ec);
    const auto* record = value.if_object();
    if (ec || record == nullptr) return std::nullopt;
    const auto* recorded_dest = record->if_contains("dest");
    const auto* tree = record->if_contains("tree");
    if (!recorded_dest || !tree || !recorded_dest->is_string() || !tree->is_string() ||
        recorded_dest->get_string() != dest)
      return std::nullopt;
    return std::string(tree->get_string());
  }

  void forget_applied(const Target& t) {
    std::error_code ec;
    fs::remove(applied_record(t), ec);
  }

  void remember_applied(const Target& t, const std::string& dest, const std::string& tree) {
    const auto path = applied_record(t);
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    const auto temp = path.string() + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << boost::json::serialize(boost::json::object{{"dest", dest}, {"tree", tree}});
      if (!out) return;  // no record: the next apply is a full one
    }
    fs::rename(temp, path, ec);
  }

  // Paths changed since what `dest` last held completely, or nullopt for a full apply.
  std::optional<std::vector<std::string>> changes_since_applied(const Target& t,
                                                                const std::string& dest,
                                                                const std::string& tree) {
    auto old_tree = applied_tree(t, dest);
    if (!old_tree) return std::nullopt;
    auto changed = mirror.changed_paths(*old_tree, tree);
    if (auto* paths = std::get_if<std::vector<std::string>>(&changed)) return std::move(*paths);
    return std::nullopt;
  }

  // One attempt to bring `t` to `commit`, whose subtree is `tree` (the plan's). `full`:
  // compare all of a `files` destination with the tree (a drift correction), not only what
  // changed since its last apply.
  Attempt apply_once(const Target& t, const std::string& commit, const std::string& tree,
                     const std::string& before, bool full, std::stop_token stop) {
    auto listed = files_at(commit, t);
    if (auto* failed = std::get_if<Attempt>(&listed)) return *failed;
    const auto& files = std::get<std::vector<TreeFile>>(listed);
    if (const auto* files_apply = std::get_if<FilesApply>(&t.apply)) {
      auto changed = full || tree.empty()
                         ? std::nullopt
                         : changes_since_applied(t, files_apply->dest, tree);
      forget_applied(t);
      auto outcome =
          changed ? apply_file_changes(files_apply->dest, files, *changed, blob_source(),
                                       files_options(t))
                  : apply_files(files_apply->dest, files, blob_source(), files_options(t));
      if (outcome.ok && !tree.empty()) remember_applied(t, files_apply->dest, tree);
      if (!outcome.ok) {
        // A refused tree is in the commit itself: no retry changes it.
        return Attempt{.retryable = !outcome.refused, .message = outcome.error};
      }
      Attempt done{.ok = true,
                   .message = std::to_string(outcome.written) + " written, " +
                              std::to_string(outcome.removed) + " removed, " +
                              std::to_string(outcome.unchanged) + " unchanged"};
      if (!files_apply->after.empty() && outcome.written + outcome.removed > 0) {
        auto after = run(t, files_apply->after, files_apply->dest, environment(t, commit, before), stop);
        if (!after.ok) after.message = "files written; after: " + after.message;
        after.message = after.ok ? done.message : after.message;
        return after;
      }
      return done;
    }
    const auto& exec = std::get<ExecApply>(t.apply);
    auto dir = checkout(t, commit, files, stop);
    if (auto* failed = std::get_if<Attempt>(&dir)) return *failed;
    return run(t, exec.command, std::get<std::string>(dir), environment(t, commit, before), stop);
  }

  std::variant<std::string, Attempt> checkout(const Target& t, const std::string& commit,
                                              const std::vector<TreeFile>& files,
                                              std::stop_token stop) {
    // A command a dead worker left running in this checkout ends before it is replaced.
    wait_for_leftover_command(group_file(t), worker().apply_timeout, stop);
    auto dir = fs::path(worker().state_dir) / "checkouts" / repository.name / t.name;
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir.parent_path(), ec);
    auto outcome = checkout_files(dir.string(), files, blob_source(), files_options(t));
    if (!outcome.ok) {
      return Attempt{.retryable = !outcome.refused,
                     .message = "checkout of " + commit.substr(0, 12) + ": " + outcome.error};
    }
    return dir.string();
  }

  // Rule 5: retried with backoff up to max_attempts.
  Attempt apply_with_retries(const Target& t, const std::string& commit, const std::string& tree,
                             const std::string& before, bool full, std::stop_token stop,
                             unsigned& attempts) {
    Attempt last;
    for (attempts = 1; attempts <= worker().max_attempts; ++attempts) {
      last = apply_once(t, commit, tree, before, full, stop);
      if (last.ok || !last.retryable || attempts == worker().max_attempts) break;
      log->warn("apply failed repository={} target={} attempt={} error=\"{}\"", repository.name,
                t.name, attempts, last.message);
      if (!sleep_unless_stopped(backoff(attempts - 1), stop)) break;
    }
    return last;
  }

  // Rule 6. nullopt: in sync. Otherwise what was found, as a short sentence.
  std::variant<std::monostate, std::string, Attempt> find_drift(const Target& t,
                                                               const std::string& commit,
                                                               std::stop_token stop) {
    auto listed = files_at(commit, t);
    if (auto* failed = std::get_if<Attempt>(&listed)) return *failed;
    const auto& files = std::get<std::vector<TreeFile>>(listed);
    if (const auto* files_apply = std::get_if<FilesApply>(&t.apply)) {
      auto check = apply_files(files_apply->dest, files, blob_source(), files_options(t),
                               /*verify_only=*/true);
      if (!check.ok) return Attempt{.message = check.error};
      if (check.written + check.removed == 0) return std::monostate{};
      return std::to_string(check.written) + " files differ, " + std::to_string(check.removed) +
             " unexpected";
    }
    const auto& exec = std::get<ExecApply>(t.apply);
    if (exec.diff.empty()) return std::monostate{};
    auto dir = checkout(t, commit, files, stop);
    if (auto* failed = std::get_if<Attempt>(&dir)) return *failed;
    CommandSpec spec{.argv = exec.diff, .working_dir = std::get<std::string>(dir),
                     .env = environment(t, commit, commit), .timeout = worker().apply_timeout,
                     .group_file = group_file(t)};
    auto r = run_command(spec, stop);
    if (r.started && !r.timed_out && r.exit_code == 0) return std::monostate{};
    if (r.started && !r.timed_out && r.signal == 0 &&
        std::find(exec.drift_exit_codes.begin(), exec.drift_exit_codes.end(), r.exit_code) !=
            exec.drift_exit_codes.end())
      return exec.diff[0] + " reported drift (exit " + std::to_string(r.exit_code) + ")";
    return Attempt{.message = "drift check failed: " + (r.started ? exec.diff[0] + " exited with " +
                                                                        std::to_string(r.exit_code)
                                                                  : r.error),
                   .output_tail = r.output_tail};
  }

  void drift_check(const Event& event, const Target& t, const TargetPlan& plan,
                   const std::string& tip, std::stop_token stop) {
    auto started_at = now_timestamp();
    auto started = Clock::now();
    Result r{.event_id = event.event_id, .target = t.name, .commit = tip, .started_at = started_at};
    auto drift = find_drift(t, tip, stop);
    auto update = StateUpdate::by_status;
    if (std::holds_alternative<std::monostate>(drift)) {
      r.status = "unchanged";
      r.message = "in sync";
      update = StateUpdate::in_sync;
    } else if (auto* failed = std::get_if<Attempt>(&drift)) {
      r.status = "failed";
      r.message = failed->message;
      r.output_tail = failed->output_tail;
    } else {
      const auto& found = std::get<std::string>(drift);
      context.metrics->counter("gitopsd_drift_found_total", "Drift found by resync checks",
                               {{"repository", repository.name}, {"target", t.name}}).inc();
      if (!t.self_heal) {
        r.status = "drift_detected";
        r.message = found + "; self_heal is off";
      } else {
        unsigned attempts = 0;
        auto applied = apply_with_retries(t, tip, plan.tree, tip, /*full=*/true, stop, attempts);
        r.attempt = attempts;
        r.status = applied.ok ? "drift_corrected" : "failed";
        r.message = found + (applied.ok ? "; corrected" : "; correction failed: " + applied.message);
        r.output_tail = applied.output_tail;
        if (applied.ok)
          context.metrics->counter("gitopsd_drift_corrected_total", "Drift corrected by resync",
                                   {{"repository", repository.name}, {"target", t.name}}).inc();
      }
    }
    r.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    publish_result(std::move(r), plan.tree, update);
  }

  void apply_target(const Event& event, const Target& t, const TargetPlan& plan,
                    const std::string& tip, bool drift_checks, std::stop_token stop) {
    if (plan.action == TargetAction::unchanged) {
      if (drift_checks) return drift_check(event, t, plan, tip, stop);
      Result r{.event_id = event.event_id, .target = t.name, .commit = tip, .status = "unchanged",
               .message = "subtree " + t.path + " unchanged"};
      return publish_result(std::move(r));
    }
    if (plan.action == TargetAction::missing) {
      Result r{.event_id = event.event_id, .target = t.name, .commit = tip, .status = "failed",
               .message = "path '" + t.path + "' is not in commit " + tip.substr(0, 12)};
      return publish_result(std::move(r));
    }
    auto started_at = now_timestamp();
    auto started = Clock::now();
    unsigned attempts = 0;
    auto outcome = apply_with_retries(t, tip, plan.tree, event.before, /*full=*/false, stop, attempts);
    auto elapsed = Clock::now() - started;
    context.metrics->histogram("gitopsd_apply_duration_seconds", "Time to apply a target",
                               {{"repository", repository.name}, {"target", t.name}})
        .observe(std::chrono::duration<double>(elapsed).count());
    Result r{.event_id = event.event_id,
             .target = t.name,
             .commit = tip,
             .status = outcome.ok ? "applied" : "failed",
             .rollback = plan.rollback,
             .attempt = attempts,
             .started_at = started_at,
             .duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(),
             .message = outcome.message,
             .output_tail = outcome.output_tail};
    publish_result(std::move(r), plan.tree);
    // Stopped by the shutdown: reported, but not dead-lettered, since the batch is left
    // uncommitted and the partition's next owner applies the event again.
    if (!outcome.ok && !stop.stop_requested())
      dead_letter(event, t.name + ": " + outcome.message, attempts);
  }

  bool reconcile(std::vector<Event> events, std::stop_token stop) {
    published_all = true;
    unsigned fetch_attempts = 0;
    auto fetched = fetch_with_retries(stop, fetch_attempts);
    if (fetched.index() == 1) {
      const auto& error = std::get<1>(fetched);
      for (const Event& e : events) {
        result_for_every_target(e, e.kind == "poll" || e.kind == "manual" ? kNoCommit : e.after,
                                "failed", error);
        if (!stop.stop_requested()) dead_letter(e, error, fetch_attempts);
      }
      return published_all;
    }
    const std::string tip = std::get<0>(fetched);
    bool drift_checks = false;
    for (Event& e : events) {
      // Resync and manual syncs name no commit: they ask for the tip as just fetched, and
      // compare the targets with it (rule 6), so `gitopsctl sync` also corrects drift.
      if (e.kind == "poll" || e.kind == "manual") {
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
          result_for_every_target(events[i], tip, "superseded",
                                  "served by the apply of " + tip.substr(0, 12), StateUpdate::none);
          break;
        case EventVerdict::not_on_branch:
          result_for_every_target(events[i], events[i].after, "failed",
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
        if (named)
          apply_target(*carrier, repository.targets[i], plan.targets[i], tip, drift_checks, stop);
      }
    }
    return published_all;
  }
};

RepositoryReconciler::RepositoryReconciler(const Repository& repository, WorkerContext context)
    : impl_(std::make_unique<Impl>(repository, std::move(context))) {}

RepositoryReconciler::~RepositoryReconciler() = default;

bool RepositoryReconciler::reconcile(std::vector<Event> events, std::stop_token stop) {
  return impl_->reconcile(std::move(events), stop);
}

}  // namespace gitopsd::worker
