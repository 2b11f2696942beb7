#include "gitopsd/notifier/engine.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "gitopsd/crypto.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/kafka_consumer.hpp"
#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/kafka_settings.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/notifier/commit_status.hpp"
#include "gitopsd/notifier/dispatcher.hpp"
#include "gitopsd/notifier/sinks.hpp"
#include "gitopsd/records.hpp"
#include "gitopsd/systemd_notify.hpp"
#include "gitopsd/topic_reader.hpp"

namespace gitopsd::notifier {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr Duration kPollInterval = 100ms;
// Records whose deliveries are not all finished. Past the high mark the partitions are paused
// (the consumer keeps polling, so the group keeps the notifier) until the low mark: memory
// stays bounded while a host is down for long.
constexpr std::size_t kPauseAbove = 5000;
constexpr std::size_t kResumeBelow = 2500;
// Events remembered for their `after`, which a result's status also goes on when it differs
// from the result's commit (a superseded push).
constexpr std::size_t kEventsRemembered = 20000;
// Commits remembered per target for "already set" and "pending after final" decisions.
constexpr std::size_t kCommitsPerTarget = 8;
constexpr Duration kShutdownGrace = 5s;

bool is_commit_id(std::string_view s) {
  return s.size() == 40 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos &&
         s != std::string(40, '0');
}

// scheme://host[:port] of a URL: what a rate limit or an outage is shared by.
std::string origin_of(const std::string& url) {
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return url;
  return std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_authority());
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string link_for(const NotifyConfig& notify, const std::string& repository,
                     const std::string& target, const std::string& commit,
                     const std::string& event_id) {
  if (notify.target_url.empty()) return "";
  std::string url = notify.target_url;
  url = replace_all(std::move(url), "{repository}", repository);
  url = replace_all(std::move(url), "{target}", target);
  url = replace_all(std::move(url), "{commit}", commit);
  return replace_all(std::move(url), "{event_id}", event_id);
}

// One kept-alive connection per lane. The dispatcher runs one delivery of a lane at a time, so
// no connection is ever used by two threads at once. A new TCP (and TLS) connection per
// request held one sink to about 1,000 notifications/s (bench/notifier_headroom.py: most of
// the CPU went to making and tearing down the connection).
class LaneConnections {
 public:
  std::variant<HttpResponse, std::string> send(const std::string& lane, const HttpRequest& request) {
    Slot& slot = slot_for(lane);
    const std::string origin = origin_of(request.url) + " " + request.ca_file;
    if (slot.connection && slot.origin == origin) {
      auto answer = slot.connection->request(request);
      if (std::holds_alternative<HttpResponse>(answer)) return answer;
      // Most often the host closed the idle connection meanwhile: once more, on a new one.
      slot.connection.reset();
    }
    auto opened = HttpConnection::open(request.url, request.timeout, request.ca_file);
    if (auto* error = std::get_if<std::string>(&opened)) return *error;
    slot.connection = std::get<std::unique_ptr<HttpConnection>>(std::move(opened));
    slot.origin = origin;
    auto answer = slot.connection->request(request);
    if (!std::holds_alternative<HttpResponse>(answer)) slot.connection.reset();
    return answer;
  }

 private:
  struct Slot {
    std::string origin;  // scheme://host:port and CA file the connection was made for
    std::unique_ptr<HttpConnection> connection;
  };
  Slot& slot_for(const std::string& lane) {
    std::lock_guard lock(mutex_);
    return slots_[lane];  // a map's nodes stay put: the reference outlives the lock
  }
  std::mutex mutex_;
  std::map<std::string, Slot> slots_;
};

// A record's place; its deliveries report back to it.
struct RecordRef {
  KafkaPartition partition;
  std::int64_t offset = 0;
};

// What the notifier wants a target's commits to show, newest last: a final state is never
// followed by `pending` for the same commit (the result may be consumed before its event:
// they are on different topics), and a state already set is not set again.
struct CommitMemory {
  std::string commit;
  CommitState state = CommitState::pending;
  enum class Progress { queued, set, dropped } progress = Progress::queued;
};

}  // namespace

struct Engine::Impl {
  Impl(std::shared_ptr<const Config> initial, Metrics& m)
      : config(std::move(initial)),
        metrics(m),
        log(logger("notifier")),
        producer(config->kafka, "gitopsd-notifier", kWorkerDeliveryTimeout,
                 {config->kafka.topics.statuses}),
        consumer(consumer_settings(config->kafka, config->notify.group_id, std::nullopt,
                                   "gitopsd-notifier"),
                 {.assigned = [this](const auto& partitions) { on_assigned(partitions); },
                  .revoked = [this](const auto& partitions) { on_revoked(partitions); }}),
        dispatcher(DispatcherLimits{.threads = 8,
                                    .max_attempts = config->notify.max_attempts,
                                    .first_backoff = 1s,
                                    .max_backoff = config->notify.max_backoff}) {}

  // Read and replaced on the poll thread only; deliveries hold the generation they came from.
  std::shared_ptr<const Config> config;
  std::mutex reload_mutex;
  std::shared_ptr<const Config> pending_reload;
  Metrics& metrics;
  std::shared_ptr<spdlog::logger> log;
  std::atomic<bool> joined{false};
  systemd::WatchdogPinger watchdog;

  // ---- per-record bookkeeping (poll thread) -------------------------------------------------
  std::set<KafkaPartition> assigned;
  bool paused = false;
  // Per partition: offsets with deliveries outstanding (count), and the offset after the last
  // record seen. What may be committed is the lowest outstanding offset, or that.
  std::map<KafkaPartition, std::map<std::int64_t, unsigned>> outstanding;
  std::map<KafkaPartition, std::int64_t> seen_next;
  std::map<KafkaPartition, std::int64_t> stored;
  std::size_t outstanding_records = 0;

  // Finished deliveries, from the dispatcher's threads to the poll thread.
  std::mutex finished_mutex;
  std::vector<RecordRef> finished;

  // Per "repository/target", recent commits' desired states (dispatcher threads update
  // their progress, so under a mutex).
  std::mutex memory_mutex;
  std::unordered_map<std::string, std::deque<CommitMemory>> memory;
  // (repository, HTTP status) pairs already logged as refused: a bad token is said once (until
  // a status is set again for that repository), however many statuses it refuses.
  std::set<std::pair<std::string, int>> refusals_logged;

  std::unordered_map<std::string, std::string> event_after;  // event id -> after
  std::deque<std::string> event_order;

  LaneConnections connections;  // used by the dispatcher's threads
  KafkaProducer producer;  // the statuses topic
  // Closing it runs the revoked hook, which uses the bookkeeping above.
  KafkaConsumer consumer;
  // Declared last, so destroyed first: it joins its threads, whose last `done` callbacks
  // still publish with the producer and report to the bookkeeping above.
  Dispatcher dispatcher;

  // ---- metrics -------------------------------------------------------------------------------

  void count_record(const std::string& topic, const char* outcome) {
    metrics.counter("gitopsd_notifier_records_total",
                    "Records consumed, by topic and what came of them",
                    {{"topic", topic}, {"outcome", outcome}})
        .inc();
  }
  void count_status(Provider provider, CommitState state, const char* outcome) {
    metrics.counter("gitopsd_notifier_statuses_total",
                    "Commit statuses, by provider, state and outcome (set, dropped after its "
                    "attempts or refused, replaced by a newer state before it was sent, "
                    "skipped as already set)",
                    {{"provider", std::string(provider_name(provider))},
                     {"state", std::string(enum_name(state))},
                     {"outcome", outcome}})
        .inc();
  }
  void count_notification(const std::string& sink, const char* outcome) {
    metrics.counter("gitopsd_notifier_notifications_total",
                    "Notifications, by sink and outcome (sent; dropped after its attempts or "
                    "refused; too_old: its record is older than notify.max_age)",
                    {{"sink", sink}, {"outcome", outcome}})
        .inc();
  }
  void count_retries(const char* kind, const DeliveryOutcome& outcome) {
    if (outcome.attempts <= 1) return;
    metrics.counter("gitopsd_notifier_retries_total", "Tries after the first, by delivery kind",
                    {{"kind", kind}})
        .inc(outcome.attempts - 1);
  }

  // ---- memory of commit statuses ---------------------------------------------------------

  // Whether `state` on `commit` still needs setting; if so it is remembered as queued.
  // `why_not` says why it is skipped otherwise.
  bool want_status(const std::string& key, const std::string& commit, CommitState state,
                   const char*& why_not) {
    std::lock_guard lock(memory_mutex);
    auto& commits = memory[key];
    auto it = std::find_if(commits.begin(), commits.end(),
                           [&](const CommitMemory& c) { return c.commit == commit; });
    if (it != commits.end()) {
      if (state == CommitState::pending && it->state != CommitState::pending) {
        why_not = "stale";  // the result came first
        return false;
      }
      if (it->state == state && it->progress != CommitMemory::Progress::dropped) {
        why_not = "duplicate";
        return false;
      }
      it->state = state;
      it->progress = CommitMemory::Progress::queued;
      return true;
    }
    commits.push_back({commit, state, CommitMemory::Progress::queued});
    if (commits.size() > kCommitsPerTarget) commits.pop_front();
    return true;
  }

  void remember_progress(const std::string& key, const std::string& commit, CommitState state,
                         CommitMemory::Progress progress) {
    std::lock_guard lock(memory_mutex);
    for (CommitMemory& c : memory[key]) {
      if (c.commit == commit && c.state == state) c.progress = progress;
    }
  }

  // What earlier runs set: the statuses topic, read to its end when the group assigns
  // partitions. A record redelivered after a crash is then told from a new one.
  void load_memory() {
    auto records = read_topic_to_end(config->kafka, config->kafka.topics.statuses, 30s);
    if (auto* error = std::get_if<std::string>(&records)) {
      log->warn("cannot read statuses topic {}: {}", config->kafka.topics.statuses, *error);
      return;
    }
    std::size_t loaded = 0;
    for (const auto& record : std::get<std::vector<TopicRecord>>(records)) {
      if (!record.value) continue;
      auto parsed = parse_commit_status(*record.value);
      auto* s = std::get_if<CommitStatusRecord>(&parsed);
      if (!s || !s->set) continue;
      std::lock_guard lock(memory_mutex);
      auto& commits = memory[target_key(s->repository, s->target)];
      std::erase_if(commits, [&](const CommitMemory& c) { return c.commit == s->commit; });
      commits.push_back({s->commit, s->state, CommitMemory::Progress::set});
      if (commits.size() > kCommitsPerTarget) commits.pop_front();
      ++loaded;
    }
    log->info("statuses loaded records={} topic={}", loaded, config->kafka.topics.statuses);
  }

  // ---- deliveries ----------------------------------------------------------------------------

  void record_finished(const RecordRef& ref) {
    std::lock_guard lock(finished_mutex);
    finished.push_back(ref);
  }

  void publish_status(const Repository& repository, const CommitStatus& status,
                      const std::string& event_id, const DeliveryOutcome& outcome) {
    CommitStatusRecord record{
        .repository = repository.name,
        .target = status.target,
        .commit = status.sha,
        .state = status.state,
        .set = outcome.kind == DeliveryOutcome::Kind::delivered,
        .attempts = outcome.attempts,
        .error = outcome.kind == DeliveryOutcome::Kind::delivered ? "" : outcome.last.why,
        .event_id = event_id,
        .at = format_timestamp(std::chrono::system_clock::now())};
    producer.produce(config_statuses_topic, target_key(repository.name, status.target),
                     to_json(record), [log = log, key = target_key(repository.name, status.target)](
                                          const DeliveryReport& report) {
                       if (!report.ok) {
                         log->warn("commit status record not published key={} error=\"{}\"", key,
                                   report.error);
                       }
                     });
  }
  std::string config_statuses_topic;  // set at start; the topics are restart-only

  void submit_status(const std::shared_ptr<const Config>& generation, const Repository& repository,
                     CommitStatus status, const std::string& event_id, const RecordRef& ref,
                     std::int64_t record_ms, unsigned& deliveries) {
    const std::string key = target_key(repository.name, status.target);
    const char* why_not = "";
    if (!want_status(key, status.sha, status.state, why_not)) {
      count_status(repository.provider, status.state, "skipped");
      log->debug("commit status skipped ({}) repository={} target={} commit={} state={}", why_not,
                 repository.name, status.target, status.sha, enum_name(status.state));
      return;
    }
    ++deliveries;
    Delivery d;
    d.lane = "status/" + repository.name;
    d.host = origin_of(repository.api->url);
    d.replaces = key + "@" + status.sha;
    d.send = [this, generation, &repository, status, lane = d.lane,
              timeout = generation->notify.request_timeout] {
      return connections.send(lane, commit_status_request(repository, status, timeout));
    };
    d.done = [this, generation, &repository, status, event_id, ref, record_ms,
              key](const DeliveryOutcome& outcome) {
      count_retries("status", outcome);
      switch (outcome.kind) {
        case DeliveryOutcome::Kind::delivered: {
          count_status(repository.provider, status.state, "set");
          remember_progress(key, status.sha, status.state, CommitMemory::Progress::set);
          const double seconds =
              static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count() -
                                  record_ms) /
              1000.0;
          metrics
              .histogram("gitopsd_notifier_status_latency_seconds",
                         "From the record's timestamp to the commit status set on the host")
              .observe(std::max(0.0, seconds));
          {
            std::lock_guard lock(memory_mutex);
            std::erase_if(refusals_logged,
                          [&](const auto& r) { return r.first == repository.name; });
          }
          log->info("commit status set repository={} target={} commit={} state={} attempts={}",
                    repository.name, status.target, status.sha, enum_name(status.state),
                    outcome.attempts);
          publish_status(repository, status, event_id, outcome);
          break;
        }
        case DeliveryOutcome::Kind::dropped: {
          count_status(repository.provider, status.state, "dropped");
          remember_progress(key, status.sha, status.state, CommitMemory::Progress::dropped);
          bool first_time = true;
          if (outcome.last.kind == Verdict::Kind::give_up) {
            std::lock_guard lock(memory_mutex);
            first_time = refusals_logged.emplace(repository.name, outcome.last.http_status).second;
          }
          if (first_time) {
            log->error("commit status not set repository={} target={} commit={} state={} "
                       "attempts={} answer={}{}",
                       repository.name, status.target, status.sha, enum_name(status.state),
                       outcome.attempts, outcome.last.why,
                       outcome.last.kind == Verdict::Kind::give_up
                           ? " (refused: not retried; said once until a status is set again)"
                           : "");
          }
          publish_status(repository, status, event_id, outcome);
          break;
        }
        case DeliveryOutcome::Kind::replaced:
          count_status(repository.provider, status.state, "replaced");
          break;
      }
      record_finished(ref);
    };
    dispatcher.submit(std::move(d));
  }

  void submit_notification(const std::shared_ptr<const Config>& generation, const Sink& sink,
                           const Notification& notification, const RecordRef& ref,
                           std::int64_t record_ms, unsigned& deliveries) {
    if (!wants(sink, notification)) return;
    const auto age = std::chrono::milliseconds(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count() -
        record_ms);
    if (age > generation->notify.max_age) {
      count_notification(sink.name, "too_old");
      return;
    }
    ++deliveries;
    Delivery d;
    d.lane = "sink/" + sink.name;
    d.host = origin_of(sink.url);
    d.send = [this, generation, &sink, notification, lane = d.lane,
              timeout = generation->notify.request_timeout] {
      return connections.send(
          lane, sink_request(sink, notification, std::chrono::system_clock::now(), timeout));
    };
    d.done = [this, generation, &sink, notification, ref](const DeliveryOutcome& outcome) {
      count_retries("notification", outcome);
      if (outcome.kind == DeliveryOutcome::Kind::delivered) {
        count_notification(sink.name, "sent");
        log->debug("notification sent sink={} id={} attempts={}", sink.name, notification.id,
                   outcome.attempts);
      } else {
        count_notification(sink.name, "dropped");
        // The URL may be a secret (a Slack URL is one): only the sink's name is logged.
        log->error("notification dropped sink={} id={} repository={} target={} status={} "
                   "attempts={} answer={}",
                   sink.name, notification.id, notification.repository, notification.target,
                   notification.status, outcome.attempts, outcome.last.why);
      }
      record_finished(ref);
    };
    dispatcher.submit(std::move(d));
  }

  // ---- records ---------------------------------------------------------------------------

  void remember_event(const Event& e) {
    if (event_after.emplace(e.event_id, e.after).second) event_order.push_back(e.event_id);
    while (event_order.size() > kEventsRemembered) {
      event_after.erase(event_order.front());
      event_order.pop_front();
    }
  }

  unsigned on_event(const KafkaMessage& m, const RecordRef& ref) {
    auto parsed = parse_event(m.value.value_or(""));
    auto* event = std::get_if<Event>(&parsed);
    if (!event) {
      count_record(m.topic, "unreadable");
      return 0;
    }
    count_record(m.topic, "read");
    // A poll event without a commit (resync) and a deleted branch have nothing to mark.
    if (!is_commit_id(event->after)) return 0;
    remember_event(*event);
    const Repository* repository = find_repository(*config, event->repository);
    if (!repository || !repository->api || !config->notify.commit_status) return 0;
    unsigned deliveries = 0;
    for (const Target& target : repository->targets) {
      if (!event->targets.empty() &&
          std::find(event->targets.begin(), event->targets.end(), target.name) == event->targets.end()) {
        continue;
      }
      CommitStatus status{.repository = repository->name,
                          .target = target.name,
                          .sha = event->after,
                          .state = CommitState::pending,
                          .description = "gitopsd is applying this commit",
                          .target_url = link_for(config->notify, repository->name, target.name,
                                                 event->after, event->event_id)};
      submit_status(config, *repository, std::move(status), event->event_id, ref, m.timestamp_ms,
                    deliveries);
    }
    return deliveries;
  }

  unsigned on_result(const KafkaMessage& m, const RecordRef& ref) {
    auto parsed = parse_result(m.value.value_or(""));
    auto* result = std::get_if<Result>(&parsed);
    if (!result) {
      count_record(m.topic, "unreadable");
      return 0;
    }
    count_record(m.topic, "read");
    const Repository* repository = find_repository(*config, result->repository);
    unsigned deliveries = 0;
    const std::string link = link_for(config->notify, result->repository, result->target,
                                      result->commit, result->event_id);
    if (repository && repository->api && config->notify.commit_status &&
        std::any_of(repository->targets.begin(), repository->targets.end(),
                    [&](const Target& t) { return t.name == result->target; })) {
      std::vector<std::string> commits = {result->commit};
      if (auto it = event_after.find(result->event_id);
          it != event_after.end() && it->second != result->commit) {
        commits.push_back(it->second);
      }
      for (const std::string& commit : commits) {
        CommitStatus status{.repository = repository->name,
                            .target = result->target,
                            .sha = commit,
                            .state = commit_state(result->status),
                            .description = describe(*result),
                            .target_url = link};
        submit_status(config, *repository, std::move(status), result->event_id, ref,
                      m.timestamp_ms, deliveries);
      }
    }
    const Notification notification{.id = m.topic + "-" + std::to_string(m.partition) + "-" +
                                           std::to_string(m.offset),
                                     .repository = result->repository,
                                     .target = result->target,
                                     .commit = result->commit,
                                     .status = std::string(enum_name(result->status)),
                                     .rollback = result->rollback,
                                     .event_id = result->event_id,
                                     .message = result->message,
                                     .output_tail = result->output_tail,
                                     .link = link,
                                     .at = result->finished_at};
    for (const Sink& sink : config->notify.sinks) {
      submit_notification(config, sink, notification, ref, m.timestamp_ms, deliveries);
    }
    return deliveries;
  }

  unsigned on_dead_letter(const KafkaMessage& m, const RecordRef& ref) {
    const std::string value = m.value.value_or("");
    if (std::holds_alternative<DlqReplay>(parse_dlq_replay(value))) {
      count_record(m.topic, "read");
      return 0;  // a marker of `gitopsctl dlq replay`, not a dead letter
    }
    boost::system::error_code ec;
    const boost::json::value json = boost::json::parse(value, ec);
    const auto* object = ec ? nullptr : json.if_object();
    if (!object) {
      count_record(m.topic, "unreadable");
      return 0;
    }
    count_record(m.topic, "read");
    Notification n{.id = m.topic + "-" + std::to_string(m.partition) + "-" + std::to_string(m.offset),
                   .repository = m.key,
                   .status = "dead_lettered"};
    if (const auto* e = object->if_contains("event")) {
      if (auto parsed = parse_event(boost::json::serialize(*e)); auto* event = std::get_if<Event>(&parsed)) {
        n.repository = event->repository;
        n.commit = is_commit_id(event->after) ? event->after : "";
        n.event_id = event->event_id;
      }
    }
    if (const auto* error = object->if_contains("error"); error && error->is_string()) {
      n.message = std::string(error->as_string());
    }
    if (const auto* at = object->if_contains("failed_at"); at && at->is_string()) {
      n.at = std::string(at->as_string());
    }
    if (n.repository.empty()) n.repository = "unknown";
    n.link = link_for(config->notify, n.repository, "", n.commit, n.event_id);
    unsigned deliveries = 0;
    for (const Sink& sink : config->notify.sinks) {
      submit_notification(config, sink, n, ref, m.timestamp_ms, deliveries);
    }
    return deliveries;
  }

  void on_message(const KafkaMessage& m) {
    const KafkaPartition partition{m.topic, m.partition};
    if (!assigned.contains(partition)) return;  // revoked meanwhile: its new owner has it
    const RecordRef ref{partition, m.offset};
    seen_next[partition] = m.offset + 1;
    const auto& topics = config->kafka.topics;
    unsigned deliveries = 0;
    if (m.topic == topics.events) {
      deliveries = on_event(m, ref);
    } else if (m.topic == topics.results) {
      deliveries = on_result(m, ref);
    } else if (m.topic == topics.dlq) {
      deliveries = on_dead_letter(m, ref);
    }
    if (deliveries > 0) {
      outstanding[partition][m.offset] = deliveries;
      ++outstanding_records;
    }
    store_done(partition);
  }

  // ---- offsets ---------------------------------------------------------------------------

  void store_done(const KafkaPartition& partition) {
    const auto seen = seen_next.find(partition);
    if (seen == seen_next.end()) return;
    const auto& pending = outstanding[partition];
    const std::int64_t next = pending.empty() ? seen->second : pending.begin()->first;
    auto& last = stored[partition];
    if (next <= last) return;
    if (auto error = consumer.store_offset(partition, next)) {
      log->warn("offset store failed topic={} partition={} offset={} error={}", partition.topic,
                partition.partition, next, *error);
      return;
    }
    last = next;
  }

  void take_finished() {
    std::vector<RecordRef> done;
    {
      std::lock_guard lock(finished_mutex);
      done.swap(finished);
    }
    std::set<KafkaPartition> touched;
    for (const RecordRef& ref : done) {
      auto partition = outstanding.find(ref.partition);
      if (partition == outstanding.end()) continue;  // revoked since
      auto record = partition->second.find(ref.offset);
      if (record == partition->second.end()) continue;
      if (--record->second == 0) {
        partition->second.erase(record);
        --outstanding_records;
        touched.insert(ref.partition);
      }
    }
    for (const auto& p : touched) store_done(p);
  }

  void apply_backpressure() {
    if (!paused && outstanding_records > kPauseAbove) {
      paused = true;
      consumer.pause({assigned.begin(), assigned.end()});
      log->warn("paused: {} records await their deliveries (a host or sink is slow or down)",
                outstanding_records);
    } else if (paused && outstanding_records < kResumeBelow) {
      paused = false;
      consumer.resume({assigned.begin(), assigned.end()});
      log->info("resumed: {} records await their deliveries", outstanding_records);
    }
    metrics.gauge("gitopsd_notifier_records_in_flight",
                  "Records whose deliveries are not all finished (their offsets wait)")
        .set(static_cast<double>(outstanding_records));
    metrics.gauge("gitopsd_notifier_deliveries_queued",
                  "Commit statuses and notifications queued or being tried")
        .set(static_cast<double>(dispatcher.pending()));
  }

  // ---- group -------------------------------------------------------------------------------

  void on_assigned(const KafkaConsumer::Partitions& partitions) {
    for (const auto& p : partitions) assigned.insert(p);
    if (paused) consumer.pause(partitions);
    log->info("assigned partitions={}", partitions.size());
    if (!joined.exchange(true)) {
      load_memory();
      systemd::notify("READY=1");
    }
  }

  // What finished is stored; what did not is left to the next owner, which redoes it.
  void on_revoked(const KafkaConsumer::Partitions& partitions) {
    take_finished();
    for (const auto& p : partitions) {
      store_done(p);
      assigned.erase(p);
      if (auto it = outstanding.find(p); it != outstanding.end()) {
        outstanding_records -= it->second.size();
        outstanding.erase(it);
      }
      seen_next.erase(p);
      stored.erase(p);
    }
    consumer.commit();
    log->info("revoked partitions={}", partitions.size());
  }

  void take_reload() {
    std::shared_ptr<const Config> next;
    {
      std::lock_guard lock(reload_mutex);
      next = std::move(pending_reload);
    }
    if (!next) return;
    config = std::move(next);
    dispatcher.set_limits(config->notify.max_attempts, config->notify.max_backoff);
    log->info("config in force repositories={} sinks={}", config->repositories.size(),
              config->notify.sinks.size());
  }

  void run(std::stop_token stop) {
    const auto& topics = config->kafka.topics;
    config_statuses_topic = topics.statuses;
    consumer.subscribe({topics.events, topics.results, topics.dlq});
    log->info("consuming topics={},{},{} group={} repositories_with_api={} sinks={}", topics.events,
              topics.results, topics.dlq, config->notify.group_id,
              std::count_if(config->repositories.begin(), config->repositories.end(),
                            [](const Repository& r) { return r.api.has_value(); }),
              config->notify.sinks.size());
    while (!stop.stop_requested()) {
      watchdog.ping();
      auto m = consumer.poll(kPollInterval);
      take_reload();
      if (m) on_message(*m);
      take_finished();
      apply_backpressure();
    }
    shutdown();
  }

  void shutdown() {
    log->info("stopping: {} deliveries under way, grace {}s", dispatcher.pending(),
              std::chrono::duration_cast<std::chrono::seconds>(kShutdownGrace).count());
    const auto deadline = Clock::now() + kShutdownGrace;
    while (dispatcher.pending() > 0 && Clock::now() < deadline) {
      watchdog.ping();
      consumer.poll(kPollInterval);  // heartbeats; what arrives is left for the next owner
      take_finished();
    }
    take_finished();
    consumer.close();  // commits stored offsets, leaves the group
    producer.flush(10s);
    log->info("stopped: {} deliveries left undone, redone by the next owner", dispatcher.pending());
  }
};

Engine::Engine(std::shared_ptr<const Config> config, Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(config), metrics)) {}
Engine::~Engine() = default;
void Engine::run(std::stop_token stop) { impl_->run(stop); }
bool Engine::ready() const { return impl_->joined.load() && impl_->producer.connected(); }

void Engine::reload(std::shared_ptr<const Config> config) {
  std::lock_guard lock(impl_->reload_mutex);
  impl_->pending_reload = std::move(config);
}

}  // namespace gitopsd::notifier
