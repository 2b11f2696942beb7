#include "gitopsd/ctl/dlq.hpp"

#include <boost/json.hpp>
#include <map>
#include <set>

#include "gitopsd/crypto.hpp"
#include "gitopsd/ctl/output.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/records.hpp"
#include "gitopsd/topic_reader.hpp"

namespace gitopsd::ctl {
namespace {

namespace json = boost::json;

struct Entry {
  std::string id;  // "partition:offset"
  std::string key;
  std::string error;
  std::int64_t attempts = 0;
  std::string failed_at;
  std::optional<Event> event;  // nullopt: refused (raw value), not replayable
  std::string refusal;         // why it cannot be replayed
  std::string repository;      // of the event, else the record key
  std::string replayed_at;     // "" until a marker names it
};

std::string entry_id(std::int32_t partition, std::int64_t offset) {
  return std::to_string(partition) + ":" + std::to_string(offset);
}

std::string string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// Entries in topic order, their replay markers applied.
std::variant<std::vector<Entry>, std::string> read_entries(const Config& config, Duration timeout) {
  auto records = read_topic_to_end(config.kafka, config.kafka.topics.dlq, timeout);
  if (auto* error = std::get_if<std::string>(&records)) return std::move(*error);
  std::vector<Entry> entries;
  std::map<std::string, std::string> replayed;  // entry id -> replayed_at
  for (const auto& record : std::get<std::vector<TopicRecord>>(records)) {
    if (!record.value) continue;
    boost::system::error_code ec;
    auto value = json::parse(*record.value, ec);
    if (ec || !value.is_object()) continue;
    const auto& o = value.get_object();
    if (string_field(o, "schema") == kDlqReplaySchema) {
      auto marker = parse_dlq_replay(*record.value);
      if (const auto* m = std::get_if<DlqReplay>(&marker))
        replayed[entry_id(static_cast<std::int32_t>(m->partition), m->offset)] = m->replayed_at;
      continue;
    }
    Entry e;
    e.id = entry_id(record.partition, record.offset);
    e.key = record.key;
    e.repository = record.key;
    e.error = string_field(o, "error");
    e.failed_at = string_field(o, "failed_at");
    if (const auto* a = o.if_contains("attempts"); a && a->is_int64()) e.attempts = a->get_int64();
    if (const auto* ev = o.if_contains("event"); ev && ev->is_object()) {
      auto parsed = parse_event(json::serialize(*ev));
      if (auto* event = std::get_if<Event>(&parsed)) {
        e.event = std::move(*event);
        e.repository = e.event->repository;
      } else {
        e.refusal = "its event does not parse: " + std::get<std::string>(parsed);
      }
    } else {
      // The worker refused the event before any apply (malformed, or a repository it does not
      // have): replaying the same bytes would only be refused again.
      e.refusal = "a refused event (" + e.error + "), not a failed apply";
    }
    entries.push_back(std::move(e));
  }
  for (auto& e : entries)
    if (auto it = replayed.find(e.id); it != replayed.end()) e.replayed_at = it->second;
  return entries;
}

}  // namespace

int run_dlq_list(const Config& config, const DlqOptions& options, std::ostream& out,
                 std::ostream& err) {
  auto read = read_entries(config, options.timeout);
  if (auto* error = std::get_if<std::string>(&read)) {
    err << "gitopsctl: dlq list: " << config.kafka.topics.dlq << " at " << config.kafka.brokers
        << ": " << *error << "\n";
    return 1;
  }
  const auto& entries = std::get<std::vector<Entry>>(read);
  if (options.json) {
    json::array rows;
    for (const auto& e : entries) {
      rows.push_back(json::object{
          {"id", e.id},
          {"repository", e.repository},
          {"failed_at", e.failed_at},
          {"attempts", e.attempts},
          {"error", e.error},
          {"replayable", e.event.has_value()},
          {"replayed_at", e.replayed_at.empty() ? json::value(nullptr) : json::value(e.replayed_at)},
          {"event", json::value_from(e.event)}});
    }
    out << json::serialize(json::object{{"entries", std::move(rows)}}) << "\n";
    return 0;
  }
  Table table({"ID", "REPOSITORY", "FAILED AT", "KIND", "COMMIT", "EVENT", "ATTEMPTS", "REPLAYED",
               "ERROR"});
  for (const auto& e : entries) {
    table.add({e.id, e.repository, short_time(e.failed_at),
               e.event ? std::string(enum_name(e.event->kind)) : "refused",
               e.event ? e.event->after.substr(0, 7) : "-",
               e.event ? e.event->event_id.substr(0, 8) : "-", std::to_string(e.attempts),
               e.replayed_at.empty() ? (e.event ? "no" : "never") : short_time(e.replayed_at),
               one_line(e.error, 70)});
  }
  table.print(out);
  return 0;
}

int run_dlq_replay(const Config& config, const DlqOptions& options, std::ostream& out,
                   std::ostream& err) {
  auto read = read_entries(config, options.timeout);
  if (auto* error = std::get_if<std::string>(&read)) {
    err << "gitopsctl: dlq replay: " << config.kafka.topics.dlq << " at " << config.kafka.brokers
        << ": " << *error << "\n";
    return 1;
  }
  auto& entries = std::get<std::vector<Entry>>(read);
  std::vector<Entry*> chosen;
  if (!options.all) {
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const Entry& e) { return e.id == options.id; });
    if (it == entries.end()) {
      err << "gitopsctl: dlq replay: no entry " << options.id << " in " << config.kafka.topics.dlq
          << " (see gitopsctl dlq list)\n";
      return 1;
    }
    if (!it->event) {
      err << "gitopsctl: dlq replay: entry " << it->id << " cannot be replayed: it is "
          << it->refusal << "\n";
      return 1;
    }
    if (!it->replayed_at.empty()) {
      err << "gitopsctl: dlq replay: entry " << it->id << " was replayed already at "
          << it->replayed_at << "\n";
      return 1;
    }
    chosen.push_back(&*it);
  } else {
    for (auto& e : entries) {
      if (!e.replayed_at.empty()) continue;
      if (!e.event) {
        out << "skipped " << e.id << ": " << e.refusal << "\n";
        continue;
      }
      chosen.push_back(&e);
    }
  }

  KafkaProducer producer(config.kafka, "gitopsctl", options.timeout);
  std::set<std::string> done_events;  // an event dead-lettered for several targets: once
  int replayed = 0;
  for (Entry* e : chosen) {
    bool already = done_events.contains(e->event->event_id);
    if (!already) {
      auto report = producer.produce_and_wait(config.kafka.topics.events, e->event->repository,
                                              to_json(*e->event));
      if (!report.ok) {
        err << "gitopsctl: dlq replay: entry " << e->id << " not published to "
            << config.kafka.topics.events << ": " << report.error
            << (report.persistence == Persistence::unknown ? " (it may have arrived; check before retrying)" : "")
            << "\n";
        return 1;
      }
      done_events.insert(e->event->event_id);
      ++replayed;
    }
    // Only after the event is acknowledged: a marker never names an event that was not sent.
    // The other entries of the same event are marked too, so it is not sent twice.
    for (auto& other : entries) {
      if (!other.event || !other.replayed_at.empty() ||
          other.event->event_id != e->event->event_id)
        continue;
      const auto sep = other.id.find(':');
      const DlqReplay marker{.partition = std::stoll(other.id.substr(0, sep)),
                             .offset = std::stoll(other.id.substr(sep + 1)),
                             .event_id = other.event->event_id,
                             .replayed_at = format_timestamp(std::chrono::system_clock::now())};
      auto report = producer.produce_and_wait(config.kafka.topics.dlq, other.key, to_json(marker));
      if (!report.ok) {
        err << "gitopsctl: dlq replay: entry " << other.id
            << " was replayed but its marker was not published: " << report.error << "\n";
        return 1;
      }
      other.replayed_at = marker.replayed_at;
      out << (already ? "marked " : "replayed ") << other.id << ": event "
          << other.event->event_id << " (" << other.event->repository << ", "
          << enum_name(other.event->kind) << " " << other.event->after.substr(0, 7) << ")\n";
      already = true;
    }
  }
  if (options.all && replayed == 0) out << "nothing to replay\n";
  return 0;
}

}  // namespace gitopsd::ctl
