#include "gitopsd/ctl/sync.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "gitopsd/crypto.hpp"
#include "gitopsd/ctl/output.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/records.hpp"
#include "gitopsd/topic_reader.hpp"

namespace gitopsd::ctl {

int run_sync(const Config& config, const SyncOptions& options, std::ostream& out,
             std::ostream& err) {
  const Repository* repo = find_repository(config, options.repository);
  if (!repo) {
    err << "gitopsctl: sync: repository '" << options.repository << "' is not in " << config.path
        << "\n";
    return 2;
  }
  std::vector<std::string> expected = options.targets;  // targets whose results --wait awaits
  for (const auto& name : options.targets) {
    if (std::none_of(repo->targets.begin(), repo->targets.end(),
                     [&](const Target& t) { return t.name == name; })) {
      err << "gitopsctl: sync: repository '" << repo->name << "' has no target '" << name
          << "' in " << config.path << "\n";
      return 2;
    }
  }
  if (expected.empty())
    for (const auto& t : repo->targets) expected.push_back(t.name);

  Event e;
  e.event_id = random_uuid();
  e.provider = EventProvider::gitopsd;
  e.delivery_id = "manual-" + e.event_id;
  e.received_at = format_timestamp(std::chrono::system_clock::now());
  e.repository = repo->name;
  e.full_name = repo->match;
  e.clone_url = repo->url;
  e.branch = repo->branch;
  e.kind = EventKind::manual;
  // No commit: the worker resolves the branch tip itself (rule 2).
  e.before = e.after = std::string(40, '0');
  e.sender = options.sender;
  e.targets = options.targets;

  // Opened before publishing, at the topic's end: no result of this event can be missed.
  std::unique_ptr<TopicFollower> results;
  if (options.wait) {
    auto opened = TopicFollower::open(config.kafka, config.kafka.topics.results, std::nullopt,
                                      options.timeout);
    if (auto* error = std::get_if<std::string>(&opened)) {
      err << "gitopsctl: sync: " << config.kafka.topics.results << " at " << config.kafka.brokers
          << ": " << *error << "\n";
      return 1;
    }
    results = std::move(std::get<std::unique_ptr<TopicFollower>>(opened));
  }
  {
    KafkaProducer producer(config.kafka, "gitopsctl", options.timeout);
    auto report = producer.produce_and_wait(config.kafka.topics.events, e.repository, to_json(e));
    if (!report.ok) {
      err << "gitopsctl: sync: not published to " << config.kafka.topics.events << " at "
          << config.kafka.brokers << ": " << report.error << "\n";
      return 1;
    }
  }
  boost::json::array target_names(expected.begin(), expected.end());
  if (!options.wait) {
    if (options.json) {
      out << boost::json::serialize(boost::json::object{{"event_id", e.event_id},
                                                        {"repository", e.repository},
                                                        {"targets", std::move(target_names)}})
          << "\n";
    } else {
      out << "sync of " << e.repository << " queued: event " << e.event_id << "\n";
    }
    return 0;
  }

  std::map<std::string, Result> got;  // by target
  const auto deadline = std::chrono::steady_clock::now() + options.wait_timeout;
  while (got.size() < expected.size() && std::chrono::steady_clock::now() < deadline) {
    for (const auto& record : results->poll(std::chrono::milliseconds(500))) {
      if (!record.value) continue;
      auto parsed = parse_result(*record.value);
      auto* r = std::get_if<Result>(&parsed);
      if (r && r->event_id == e.event_id) got[r->target] = std::move(*r);
    }
  }
  bool failed = false;
  boost::json::array rows;
  Table table({"TARGET", "COMMIT", "STATUS", "DURATION", "ATTEMPT", "MESSAGE"});
  for (const auto& name : expected) {
    auto it = got.find(name);
    if (it == got.end()) {
      failed = true;
      table.add({name, "-", "no result", "-", "-", "none within the wait timeout"});
      rows.push_back(boost::json::object{{"target", name}, {"status", nullptr}});
      continue;
    }
    const Result& r = it->second;
    failed = failed || r.status == ResultStatus::failed;
    table.add({name, r.commit.substr(0, 7), std::string(enum_name(r.status)), std::to_string(r.duration_ms) + "ms",
               std::to_string(r.attempt), one_line(r.message, 70)});
    rows.push_back(boost::json::object{{"target", name},
                                       {"commit", r.commit},
                                       {"status", enum_name(r.status)},
                                       {"duration_ms", r.duration_ms},
                                       {"attempt", r.attempt},
                                       {"message", r.message}});
  }
  if (options.json) {
    out << boost::json::serialize(boost::json::object{{"event_id", e.event_id},
                                                      {"repository", e.repository},
                                                      {"targets", std::move(target_names)},
                                                      {"results", std::move(rows)}})
        << "\n";
  } else {
    out << "sync of " << e.repository << ": event " << e.event_id << "\n";
    table.print(out);
  }
  if (got.size() < expected.size())
    err << "gitopsctl: sync: not every target reported within " << options.wait_timeout.count() / 1000
        << "s (is a worker running?)\n";
  return failed ? 1 : 0;
}

}  // namespace gitopsd::ctl
