#include "gitopsd/ctl/events.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "gitopsd/ctl/output.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/records.hpp"
#include "gitopsd/topic_reader.hpp"

namespace gitopsd::ctl {
namespace {

// A result can come long after its event (retries with backoff, slow applies): events are
// read from this much earlier than the results, so most joins find their event.
constexpr std::int64_t kEventLeadMs = 2 * 3'600'000;

class AuditLog {
 public:
  AuditLog(const EventsOptions& options, std::ostream& out, std::ostream& err)
      : options_(options), out_(out), err_(err) {}

  void add_event(const TopicRecord& record) {
    if (!record.value) return;
    auto parsed = parse_event(*record.value);
    if (auto* e = std::get_if<Event>(&parsed)) events_[e->event_id] = std::move(*e);
  }

  // Prints the result unless filtered out.
  void print_result(const Result& r) {
    if (!options_.repository.empty() && r.repository != options_.repository) return;
    if (!options_.target.empty() && r.target != options_.target) return;
    auto it = events_.find(r.event_id);
    const Event* e = it == events_.end() ? nullptr : &it->second;
    // A resync (poll) publishes `unchanged` only when it clears an earlier error (workers
    // before issue 15 did for every target every resync_interval): noise without --all.
    if (!options_.all && e && e->kind == EventKind::poll && r.status == ResultStatus::unchanged)
      return;
    if (options_.json) {
      auto opt = [&](std::string_view v) {
        return e ? boost::json::value(v) : boost::json::value(nullptr);
      };
      out_ << boost::json::serialize(boost::json::object{
                  {"time", r.finished_at},
                  {"repository", r.repository},
                  {"target", r.target},
                  {"kind", opt(e ? enum_name(e->kind) : "")},
                  {"sender", opt(e ? e->sender : "")},
                  {"merge_request", e ? boost::json::value_from(e->merge_request) : nullptr},
                  {"commit", r.commit},
                  {"status", enum_name(r.status)},
                  {"rollback", r.rollback},
                  {"duration_ms", r.duration_ms},
                  {"attempt", r.attempt},
                  {"event_id", r.event_id},
                  {"worker", r.worker},
                  {"message", r.message}})
           << "\n";
    } else {
      std::string who = "-";
      if (e && !e->sender.empty()) who = e->sender;
      if (e && e->kind == EventKind::poll) who = "resync";
      std::string change = "-";
      if (e && e->merge_request)
        change = one_line("#" + std::to_string(e->merge_request->number) + " " +
                              e->merge_request->title +
                              (e->merge_request->author.empty() ? "" : " (" + e->merge_request->author + ")"),
                          50);
      table_.add({short_time(r.finished_at), r.repository, r.target,
                  e ? std::string(enum_name(e->kind)) : "?", who, change, r.commit.substr(0, 7),
                  std::string(enum_name(r.status)) + (r.rollback ? " (rollback)" : ""),
                  std::to_string(r.duration_ms) + "ms", std::to_string(r.attempt),
                  one_line(r.message, 60)});
    }
  }

  void flush() {
    if (!options_.json && table_.size() > 0) {
      table_.print(out_);
      table_ = make_table();
    }
    out_.flush();
  }

  void bad_record(const TopicRecord& record, const std::string& why) {
    err_ << "gitopsctl: events: skipping result " << record.partition << ":" << record.offset << ": "
         << why << "\n";
  }

 private:
  static Table make_table() {
    return Table({"TIME", "REPOSITORY", "TARGET", "KIND", "WHO", "CHANGE", "COMMIT", "STATUS",
                  "DURATION", "ATTEMPT", "MESSAGE"});
  }

  const EventsOptions& options_;
  std::ostream& out_;
  std::ostream& err_;
  std::map<std::string, Event> events_;  // by event id
  Table table_ = make_table();
};

}  // namespace

int run_events(const Config& config, const EventsOptions& options, const std::atomic<bool>& stop,
               std::ostream& out, std::ostream& err) {
  const auto& topics = config.kafka.topics;
  std::optional<std::int64_t> since_ms;
  if (options.since) since_ms = now_ms() - options.since->count();
  std::optional<std::int64_t> events_since_ms;
  if (since_ms) events_since_ms = *since_ms - kEventLeadMs;

  auto fail = [&](const std::string& topic, const std::string& error) {
    err << "gitopsctl: events: " << topic << " at " << config.kafka.brokers << ": " << error << "\n";
    return 1;
  };
  AuditLog log(options, out, err);
  auto print_records = [&](std::vector<TopicRecord> records) {
    // Results of different targets sit on different partitions: print in time order.
    std::vector<Result> results;
    for (const auto& record : records) {
      if (!record.value) continue;
      auto parsed = parse_result(*record.value);
      if (auto* r = std::get_if<Result>(&parsed)) {
        results.push_back(std::move(*r));
      } else {
        log.bad_record(record, std::get<std::string>(parsed));
      }
    }
    std::stable_sort(results.begin(), results.end(), [](const Result& a, const Result& b) {
      return a.finished_at < b.finished_at;
    });
    for (const auto& r : results) log.print_result(r);
    log.flush();
  };

  if (!options.follow) {
    auto events = read_topic_to_end(config.kafka, topics.events, options.timeout, events_since_ms);
    if (auto* error = std::get_if<std::string>(&events)) return fail(topics.events, *error);
    for (const auto& record : std::get<std::vector<TopicRecord>>(events)) log.add_event(record);
    auto results = read_topic_to_end(config.kafka, topics.results, options.timeout, since_ms);
    if (auto* error = std::get_if<std::string>(&results)) return fail(topics.results, *error);
    print_records(std::move(std::get<std::vector<TopicRecord>>(results)));
    return 0;
  }

  // Following: without --since, only what comes from now on. Events are polled before
  // results, so a result's event (published earlier) is known when the result is printed.
  if (!since_ms) {
    since_ms = now_ms();
    events_since_ms = *since_ms - kEventLeadMs;
  }
  auto events = TopicFollower::open(config.kafka, topics.events, events_since_ms, options.timeout);
  if (auto* error = std::get_if<std::string>(&events)) return fail(topics.events, *error);
  auto results = TopicFollower::open(config.kafka, topics.results, since_ms, options.timeout);
  if (auto* error = std::get_if<std::string>(&results)) return fail(topics.results, *error);
  auto& event_follower = *std::get<std::unique_ptr<TopicFollower>>(events);
  auto& result_follower = *std::get<std::unique_ptr<TopicFollower>>(results);
  // The events already there first, so the first results printed find theirs.
  for (auto batch = event_follower.poll(std::chrono::milliseconds(1000)); !batch.empty();
       batch = event_follower.poll(std::chrono::milliseconds(500)))
    for (const auto& record : batch) log.add_event(record);
  while (!stop.load()) {
    for (const auto& record : event_follower.poll(std::chrono::milliseconds(0))) log.add_event(record);
    auto batch = result_follower.poll(std::chrono::milliseconds(300));
    if (batch.empty()) continue;
    for (const auto& record : event_follower.poll(std::chrono::milliseconds(0))) log.add_event(record);
    print_records(std::move(batch));
  }
  return 0;
}

}  // namespace gitopsd::ctl
