#include "gitopsd/worker/worker.hpp"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "gitopsd/crypto.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/kafka_consumer.hpp"
#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/records.hpp"
#include "gitopsd/systemd_notify.hpp"
#include "gitopsd/topic_reader.hpp"
#include "gitopsd/worker/reconciler.hpp"
#include "gitopsd/worker/resync_schedule.hpp"

namespace gitopsd::worker {
namespace {

using Clock = std::chrono::steady_clock;

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

std::string worker_id() { return host_name() + ":" + std::to_string(::getpid()); }

std::vector<std::string> repository_names(const Config& config) {
  std::vector<std::string> names;
  for (const Repository& r : config.repositories) names.push_back(r.name);
  return names;
}

// gitopsd-worker@N is the static group member "<host>-<N>": the same after a restart, and
// unique as long as host names are (as the worker ids in results already assume). A worker
// without --instance stays a dynamic member: nothing names it across restarts, and two such
// workers on one host would otherwise share an id and fence each other out.
std::optional<std::string> group_instance_id(unsigned instance) {
  if (instance == 0) return std::nullopt;
  return host_name() + "-" + std::to_string(instance);
}

// One partition's events being reconciled on a thread while the partition is paused.
struct Batch {
  std::int32_t partition = 0;
  std::int64_t first_offset = 0;
  std::int64_t last_offset = 0;
  bool only_resyncs = false;
  std::atomic<bool> finished{false};
  bool ok = false;
  std::jthread thread;
};

}  // namespace

struct Worker::Impl {
  Impl(std::shared_ptr<const Config> initial, Metrics& m, const WorkerTimings& t, unsigned instance)
      : config(std::move(initial)),
        metrics(m),
        timings(t),
        id(worker_id()),
        // The topics every apply publishes to, and resync's: known before the first apply.
        producer(config->kafka, "gitopsd-worker", kWorkerDeliveryTimeout,
                 {config->kafka.topics.results, config->kafka.topics.state, config->kafka.topics.events}),
        sink(producer, config->kafka.topics),
        log(logger("worker")),
        fetch_slots(config->worker.max_parallel_fetches),
        schedule(config->worker.resync_interval, repository_names(*config)),
        // Lost partitions are handled as revoked ones: their batches finish, the group refuses
        // their commit (it has moved on), and their new owner redoes them.
        consumer(consumer_settings(config->kafka, config->worker.group_id, group_instance_id(instance)),
                 {.assigned = [this](const auto& partitions) { on_assigned(partitions); },
                  .revoked = [this](const auto& partitions) { on_revoked(partitions); }}) {
    index_repositories();
    // Made now, so a mirror that cannot be opened stops the start; after a reload, anew
    // on their next dispatch.
    for (const Repository& r : config->repositories) reconcilers[r.name] = make_reconciler(r);
  }

  // The config in force. Read and replaced only on the poll thread (take_reload), so the
  // poll loop needs no lock; batches hold their reconciler's generation.
  std::shared_ptr<const Config> config;
  // `config`'s repositories by name, for the paths taken per event and per resync
  // (find_repository is a scan: thousands of comparisons each with 10,000 repositories).
  std::unordered_map<std::string_view, const Repository*> by_name;
  std::mutex reload_mutex;
  std::shared_ptr<const Config> pending_reload;  // set by reload(), taken by the poll loop
  Metrics& metrics;
  WorkerTimings timings;
  std::string id;
  KafkaProducer producer;
  KafkaOutcomeSink sink;  // results, state and DLQ records
  StateCache state;
  std::shared_ptr<spdlog::logger> log;
  FetchSlots fetch_slots;   // shared by every batch's reconcilers
  Counter& resync_not_published = metrics.counter(
      "gitopsd_resync_events_failed_total",
      "Poll events Kafka did not take: each one skips one re-check of its repository");
  ResyncSchedule schedule;  // rule 6: when each repository is re-checked
  // The events topic's partition count, for which repositories this worker owns; refreshed
  // at each assignment and every minute.
  std::int32_t partition_count = 0;
  Clock::time_point partition_count_at;
  // By repository name, each made from `config` or an earlier generation (then remade on its
  // next dispatch, when no batch of its partition runs: a repository's events all go to one
  // partition, so an old and a new reconciler never share a mirror at once).
  struct ReconcilerSlot {
    std::shared_ptr<const Config> generation;  // the config it was made from
    std::shared_ptr<RepositoryReconciler> reconciler;
  };
  std::map<std::string, ReconcilerSlot> reconcilers;

  std::set<std::int32_t> assigned;  // like everything below, used on the poll thread only
  // Per partition, the consumed events not yet dispatched, with their offsets. A refused
  // event (already dead-lettered) stays in line as nullopt, so its offset is committed with
  // the batch around it and never before an earlier event's.
  std::map<std::int32_t, std::vector<std::pair<std::int64_t, std::optional<Event>>>> waiting;
  std::map<std::int32_t, Clock::time_point> waiting_since;
  std::map<std::int32_t, std::unique_ptr<Batch>> batches;
  std::stop_source batch_stop;  // stops running applies once the shutdown grace has passed
  // WATCHDOG=1 from the poll loop, which keeps coming round during applies (their partitions
  // are paused); READY=1 once the group has given this worker its first assignment.
  systemd::WatchdogPinger watchdog;
  bool joined = false;
  // Declared last, so destroyed first: closing it runs the revoked hook, which uses the above.
  KafkaConsumer consumer;

  const std::string& events_topic() const { return config->kafka.topics.events; }
  KafkaPartition events_partition(std::int32_t partition) const { return {events_topic(), partition}; }

  void index_repositories() {
    by_name.clear();
    for (const Repository& r : config->repositories) by_name.emplace(r.name, &r);
  }

  const Repository* repository(std::string_view name) const {
    const auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second;
  }

  ReconcilerSlot make_reconciler(const Repository& r) {
    return {config, std::make_shared<RepositoryReconciler>(
                        r, WorkerContext{config, &sink, &metrics, &state, id, timings, &fetch_slots})};
  }

  // ---- live reload -------------------------------------------------------------------------

  // Adopts a config handed to reload(): repositories added are consumed from now on, removed
  // ones are refused (dead-lettered) from now on, and changed ones take effect at their next
  // batch. A batch running now finishes under the config it began with.
  void take_reload() {
    std::shared_ptr<const Config> next;
    {
      std::lock_guard lock(reload_mutex);
      next = std::move(pending_reload);
    }
    if (!next) return;
    if (next->worker.resync_interval != config->worker.resync_interval ||
        repository_names(*next) != repository_names(*config)) {
      schedule = ResyncSchedule(next->worker.resync_interval, repository_names(*next));
      schedule.due(std::chrono::system_clock::now());  // from now on, not all at once
    }
    fetch_slots.set_limit(next->worker.max_parallel_fetches);
    config = std::move(next);
    index_repositories();
    std::erase_if(reconcilers, [&](const auto& entry) { return !repository(entry.first); });
    log->info("config in force repositories={} worker={}", config->repositories.size(), id);
  }

  // The reconciler for `name` under the config in force, or null when the repository is not
  // configured or its mirror cannot be opened (`error` says why). Poll thread only.
  std::shared_ptr<RepositoryReconciler> reconciler_for(const std::string& name, std::string& error) {
    const Repository* r = repository(name);
    if (!r) {
      error = "unknown repository '" + name + "'";
      return nullptr;
    }
    ReconcilerSlot& slot = reconcilers[name];
    if (!slot.reconciler || slot.generation != config) {
      try {
        slot = make_reconciler(*r);
      } catch (const std::exception& e) {
        slot = {};
        error = e.what();
        return nullptr;
      }
    }
    return slot.reconciler;
  }

  // ---- rebalancing -------------------------------------------------------------------------

  // What an operator (and a test) sees of the group's churn: a crash, a restart without
  // static membership, a new worker each cost every member a rebalance step or more.
  void count_rebalance(const char* change) {
    metrics.counter("gitopsd_consumer_rebalances_total",
                    "Rebalance steps this worker took part in, by what they did to it",
                    {{"change", change}})
        .inc();
    metrics.gauge("gitopsd_consumer_partitions", "Partitions of the events topic this worker owns")
        .set(static_cast<double>(assigned.size()));
  }

  void on_assigned(const KafkaConsumer::Partitions& partitions) {
    for (const auto& p : partitions) assigned.insert(p.partition);
    count_rebalance("assigned");
    partition_count_at = {};  // the topic may have grown
    log->info("assigned partitions={} worker={}", partitions.size(), id);
    load_state();
    // Also when the assignment is empty (more workers than partitions): the worker is a
    // member of the group then, and takes partitions over when another leaves.
    if (!joined) {
      joined = true;
      systemd::notify("READY=1");
    }
  }

  // Lets the batches of these partitions finish, then commits what they did.
  void on_revoked(const KafkaConsumer::Partitions& partitions) {
    for (const auto& p : partitions) {
      finish_batch(p.partition, /*wait=*/true);
      waiting.erase(p.partition);
      waiting_since.erase(p.partition);
      assigned.erase(p.partition);
    }
    count_rebalance("revoked");
    consumer.commit();
    log->info("revoked partitions={} worker={}", partitions.size(), id);
  }

  // What every target runs: the compacted state topic, read to its end.
  void load_state() {
    auto records = read_topic_to_end(config->kafka, config->kafka.topics.state, std::chrono::seconds(30));
    if (auto* error = std::get_if<std::string>(&records)) {
      log->error("cannot read state topic {}: {}", config->kafka.topics.state, *error);
      return;
    }
    std::size_t loaded = 0;
    for (const auto& record : std::get<std::vector<TopicRecord>>(records)) {
      if (!record.value) continue;
      auto parsed = parse_state(*record.value);
      if (auto* s = std::get_if<StateRecord>(&parsed)) {
        state.put(*s);
        ++loaded;
      }
    }
    log->info("state loaded records={} topic={}", loaded, config->kafka.topics.state);
  }

  // ---- events ------------------------------------------------------------------------------

  void store_offset(std::int32_t partition, std::int64_t next) {
    if (auto error = consumer.store_offset(events_partition(partition), next))
      log->warn("offset store failed partition={} offset={} error={}", partition, next, *error);
  }

  void dead_letter_raw(const std::string& key, const std::string& raw, const std::string& error) {
    const DeadLetter dlq{.raw = raw, .error = error, .worker = id,
                         .failed_at = format_timestamp(std::chrono::system_clock::now())};
    if (!sink.dead_letter(key, to_json(dlq))) log->error("dead-letter publish failed");
  }

  void on_message(KafkaMessage m) {
    std::string raw = m.value.value_or("");
    auto parsed = parse_event(raw);
    std::string refusal;
    if (auto* reason = std::get_if<std::string>(&parsed)) {
      refusal = "malformed event: " + *reason;
    } else if (!repository(std::get<Event>(parsed).repository)) {
      refusal = "unknown repository '" + std::get<Event>(parsed).repository + "'";
    }
    if (!refusal.empty()) {
      // Never blocks the partition: dead-lettered and committed past.
      log->warn("event refused partition={} offset={} reason=\"{}\"", m.partition, m.offset, refusal);
      dead_letter_raw(m.key, raw, refusal);
      if (!batches.contains(m.partition) && !waiting.contains(m.partition)) {
        store_offset(m.partition, m.offset + 1);
        return;
      }
    }
    if (!waiting.contains(m.partition)) waiting_since[m.partition] = Clock::now();
    std::optional<Event> event;
    if (refusal.empty()) event = std::get<Event>(std::move(parsed));
    waiting[m.partition].emplace_back(m.offset, std::move(event));
  }

  // True when every event waiting on `partition` is a resync (a poll event).
  bool only_resyncs(std::int32_t partition) const {
    const auto it = waiting.find(partition);
    if (it == waiting.end()) return false;
    return std::all_of(it->second.begin(), it->second.end(), [](const auto& waiting_event) {
      return waiting_event.second && waiting_event.second->kind == EventKind::poll;
    });
  }

  void dispatch(std::int32_t partition) {
    const bool resyncs = only_resyncs(partition);
    auto events = std::move(waiting[partition]);
    waiting.erase(partition);
    waiting_since.erase(partition);
    consumer.pause({events_partition(partition)});
    auto batch = std::make_unique<Batch>();
    batch->partition = partition;
    batch->first_offset = events.front().first;
    batch->last_offset = events.back().first;
    batch->only_resyncs = resyncs;
    Batch* b = batch.get();
    // Reconcilers are picked here, on the poll thread, under the config in force. Events of a
    // repository that a reload removed since they were consumed (or whose mirror cannot be
    // opened) are dead-lettered like any event this worker cannot handle.
    std::map<std::string, std::pair<std::shared_ptr<RepositoryReconciler>, std::vector<Event>>> work;
    for (auto& [offset, event] : events) {
      if (!event) continue;
      auto it = work.find(event->repository);
      if (it == work.end()) {
        std::string error;
        auto reconciler = reconciler_for(event->repository, error);
        if (!reconciler) {
          log->warn("event refused event_id={} repository={} partition={} offset={} reason=\"{}\"",
                    event->event_id, event->repository, partition, offset, error);
          dead_letter_raw(event->repository, to_json(*event), error);
          continue;
        }
        it = work.emplace(event->repository, std::pair{std::move(reconciler), std::vector<Event>{}}).first;
      }
      it->second.second.push_back(std::move(*event));
    }
    // The batch's repositories are reconciled side by side, as many at once as fetches may
    // run (fetch_slots bounds the fetches across all batches).
    const std::size_t threads = std::min<std::size_t>(work.size(), config->worker.max_parallel_fetches);
    batch->thread = std::jthread([this, b, threads, work = std::move(work),
                                  stop = batch_stop.get_token()]() mutable {
      std::vector<std::pair<const std::string*, decltype(work)::mapped_type*>> jobs;
      for (auto& [name, job] : work) jobs.emplace_back(&name, &job);
      std::atomic<std::size_t> next{0};
      std::atomic<bool> ok{true};
      auto run_jobs = [&] {
        for (std::size_t i; (i = next.fetch_add(1)) < jobs.size();) {
          auto& [name, job] = jobs[i];
          log->debug("reconcile repository={} events={} partition={}", *name, job->second.size(),
                     b->partition);
          if (!job->first->reconcile(std::move(job->second), stop)) ok.store(false);
        }
      };
      {
        std::vector<std::jthread> helpers;
        for (std::size_t i = 1; i < threads; ++i) helpers.emplace_back(run_jobs);
        run_jobs();
      }  // joined
      b->ok = ok.load();  // false also when stopped: the batch is redone by the next owner
      b->finished.store(true);
    });
    batches[partition] = std::move(batch);
  }

  // Stores the finished batch's offsets (or rewinds to redo it) and resumes the partition.
  void finish_batch(std::int32_t partition, bool wait) {
    auto it = batches.find(partition);
    if (it == batches.end()) return;
    Batch& b = *it->second;
    if (!wait && !b.finished.load()) return;
    // A revocation waits here for the apply (bounded by apply_timeout), not in the poll loop.
    while (!b.finished.load()) {
      watchdog.ping();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    b.thread.join();
    if (b.ok) {
      store_offset(partition, b.last_offset + 1);
      // Now rather than at the next auto-commit: less to redo after a crash. Resyncs are
      // cheap to redo and come all the time: the auto-commit (every 5 s) takes them.
      if (!b.only_resyncs) consumer.commit_async();
    } else {
      // Not all outcomes were published (or the apply was stopped): do it again.
      consumer.seek(events_partition(partition), b.first_offset, std::chrono::seconds(5));
      log->warn("batch not committed partition={} offsets={}..{}: will be redone", partition,
                b.first_offset, b.last_offset);
    }
    consumer.resume({events_partition(partition)});
    batches.erase(it);
  }

  // ---- resync ------------------------------------------------------------------------------

  // Rule 6: a poll event for each repository this worker owns whose slot has come, produced
  // without waiting (librdkafka batches them); a failed one only skips that re-check.
  void publish_due_resyncs() {
    const auto due = schedule.due(std::chrono::system_clock::now());
    if (due.empty() || assigned.empty()) return;
    if (partition_count == 0 || Clock::now() - partition_count_at >= std::chrono::minutes(1)) {
      auto ids = consumer.partitions_of(events_topic(), std::chrono::seconds(5));
      const auto* found = std::get_if<std::vector<std::int32_t>>(&ids);
      if (!found || found->empty()) {
        log->warn("resync skipped for {} repositories: partitions of {} unknown", due.size(),
                  events_topic());
        return;
      }
      partition_count = static_cast<std::int32_t>(found->size());
      partition_count_at = Clock::now();
    }
    for (const std::string& name : due) {
      const Repository* r = repository(name);
      if (r == nullptr || !assigned.contains(partition_of(name, partition_count))) continue;
      Event e;
      e.event_id = random_uuid();
      e.provider = EventProvider::gitopsd;
      e.received_at = format_timestamp(std::chrono::system_clock::now());
      e.repository = r->name;
      e.full_name = r->match;
      e.clone_url = r->url;
      e.branch = r->branch;
      e.kind = EventKind::poll;
      e.before = e.after = std::string(40, '0');
      // The report may come while the producer closes, after this Impl's members: the
      // callback holds only what outlives the producer.
      producer.produce(events_topic(), r->name, to_json(e),
                       [worker_log = log, &failed = resync_not_published, name = r->name](
                           const DeliveryReport& report) {
                         if (report.ok) return;
                         failed.inc();
                         worker_log->warn("resync event not published repository={} error=\"{}\"",
                                          name, report.error);
                       });
    }
  }

  // ---- the loop ----------------------------------------------------------------------------

  void update_lag() {
    for (std::int32_t p : assigned) {
      auto lag = consumer.lag(events_partition(p));
      if (!lag) continue;
      metrics.gauge("gitopsd_consumer_lag", "Events not yet consumed, by partition",
                    {{"partition", std::to_string(p)}})
          .set(static_cast<double>(std::max<std::int64_t>(0, *lag)));
    }
  }

  void run(std::stop_token stop) {
    consumer.subscribe({events_topic()});
    log->info("consuming topic={} group={} worker={} repositories={}", events_topic(),
              config->worker.group_id, id, config->repositories.size());
    // Each repository at its next slot from now: within one interval of the start, so a push
    // whose webhook was lost while this worker restarted is applied within an interval (a
    // later start would make that two). The slots stay spread: a restart is no resync storm.
    schedule.due(std::chrono::system_clock::now());
    auto next_lag = Clock::now();
    while (!stop.stop_requested()) {
      watchdog.ping();
      auto m = consumer.poll(timings.poll_interval);
      // After the poll, not before: an event that arrived while it waited is then judged
      // under a reload made meanwhile. So once reload() returns (the reload is counted, and
      // systemd told), every event produced after it meets the new config.
      take_reload();
      const bool quiet = !m;  // nothing more arrived: the burst is over
      if (m) on_message(std::move(*m));
      const auto now = Clock::now();
      for (auto it = waiting_since.begin(); it != waiting_since.end();) {
        auto partition = (it++)->first;
        if (batches.contains(partition)) continue;
        const auto waited = now - waiting_since[partition];
        if (only_resyncs(partition) ? waited >= timings.resync_batch_window
                                    : quiet || waited >= timings.batch_window)
          dispatch(partition);
      }
      std::vector<std::int32_t> finished;
      for (const auto& [partition, batch] : batches)
        if (batch->finished.load()) finished.push_back(partition);
      for (auto partition : finished) finish_batch(partition, false);
      publish_due_resyncs();
      if (now >= next_lag) {
        update_lag();
        next_lag = now + timings.lag_interval;
      }
    }
    shutdown();
  }

  void shutdown() {
    log->info("stopping: {} applies running, grace {}s", batches.size(),
              std::chrono::duration_cast<std::chrono::seconds>(timings.shutdown_grace).count());
    auto deadline = Clock::now() + timings.shutdown_grace;
    // Keep polling (heartbeats, no new events: every partition with a batch is paused and
    // waiting events are simply not dispatched) until the batches finish or the grace ends.
    while (!batches.empty()) {
      watchdog.ping();
      if (Clock::now() >= deadline) batch_stop.request_stop();
      consumer.poll(timings.poll_interval);  // what arrives is left for the next owner
      std::vector<std::int32_t> finished;
      for (const auto& [partition, batch] : batches)
        if (batch->finished.load()) finished.push_back(partition);
      for (auto partition : finished) finish_batch(partition, false);
    }
    consumer.close();  // commits stored offsets, leaves the group
    producer.flush(std::chrono::seconds(10));
    log->info("stopped worker={}", id);
  }
};

Worker::Worker(std::shared_ptr<const Config> config, Metrics& metrics, const WorkerTimings& timings,
               unsigned instance)
    : impl_(std::make_unique<Impl>(std::move(config), metrics, timings, instance)) {}
Worker::~Worker() = default;
void Worker::run(std::stop_token stop) { impl_->run(stop); }
bool Worker::ready() const { return impl_->producer.connected(); }

void Worker::reload(std::shared_ptr<const Config> config) {
  std::lock_guard lock(impl_->reload_mutex);
  impl_->pending_reload = std::move(config);
}

}  // namespace gitopsd::worker
