#include "gitopsd/ctl/status.hpp"

#include <boost/json.hpp>
#include <map>

#include "gitopsd/ctl/output.hpp"
#include "gitopsd/records.hpp"
#include "gitopsd/topic_reader.hpp"

namespace gitopsd::ctl {

int run_status(const Config& config, const StatusOptions& options, std::ostream& out,
               std::ostream& err) {
  bool repository_known = options.repository.empty();
  bool target_known = options.target.empty();
  for (const auto& r : config.repositories) {
    if (!options.repository.empty() && r.name != options.repository) continue;
    repository_known = true;
    for (const auto& t : r.targets) target_known = target_known || t.name == options.target;
  }
  if (!repository_known || !target_known) {
    err << "gitopsctl: status: "
        << (!repository_known ? "repository '" + options.repository + "'"
                              : "target '" + options.target + "'")
        << " is not in " << config.path << "\n";
    return 2;
  }
  auto records = read_topic_to_end(config.kafka, config.kafka.topics.state, options.timeout);
  if (auto* error = std::get_if<std::string>(&records)) {
    err << "gitopsctl: status: " << config.kafka.topics.state << " at " << config.kafka.brokers
        << ": " << *error << "\n";
    return 1;
  }
  // Compaction may not have run yet: the last record per key wins, a tombstone removes it.
  std::map<std::string, StateRecord> state;
  for (const auto& record : std::get<std::vector<TopicRecord>>(records)) {
    if (!record.value) {
      state.erase(record.key);
      continue;
    }
    auto parsed = parse_state(*record.value);
    if (auto* s = std::get_if<StateRecord>(&parsed)) {
      state[target_key(s->repository, s->target)] = std::move(*s);
    } else {
      err << "gitopsctl: status: skipping record " << record.partition << ":" << record.offset
          << ": " << std::get<std::string>(parsed) << "\n";
    }
  }
  // Configured targets no worker has reported on yet are listed too.
  for (const auto& r : config.repositories)
    for (const auto& t : r.targets)
      if (!state.contains(target_key(r.name, t.name)))
        state[target_key(r.name, t.name)] = StateRecord{.repository = r.name, .target = t.name};

  const auto now = now_ms();
  boost::json::array rows;
  Table table({"REPOSITORY", "TARGET", "COMMIT", "STATUS", "APPLIED AT", "AGE", "LAST ERROR"});
  for (const auto& [key, s] : state) {
    if (!options.repository.empty() && s.repository != options.repository) continue;
    if (!options.target.empty() && s.target != options.target) continue;
    const auto applied_ms = parse_timestamp_ms(s.applied_at);
    // A record from the topic has a commit or, when never applied, its error (parse_state).
    const bool pending = s.commit.empty() && !s.last_error;
    const std::string status = pending              ? "pending"
                               : s.commit.empty() ? "never applied"
                                                  : std::string(enum_name(s.status));
    std::string last_error = "-";
    if (s.last_error)
      last_error = one_line(s.last_error->message, 60) + " (" + s.last_error->commit.substr(0, 7) +
                   ", " + format_age(now - parse_timestamp_ms(s.last_error->at).value_or(now)) +
                   " ago)";
    table.add({s.repository, s.target, s.commit.empty() ? "-" : s.commit.substr(0, 7), status,
               applied_ms ? short_time(s.applied_at) : "-",
               applied_ms ? format_age(now - *applied_ms) : "-", last_error});
    boost::json::value age = nullptr;
    if (applied_ms) age = (now - *applied_ms) / 1000;
    rows.push_back(boost::json::object{
        {"repository", s.repository},
        {"target", s.target},
        {"commit", s.commit.empty() ? boost::json::value(nullptr) : boost::json::value(s.commit)},
        {"status", status},
        {"applied_at", applied_ms ? boost::json::value(s.applied_at) : boost::json::value(nullptr)},
        {"age_seconds", age},
        {"last_error", boost::json::value_from(s.last_error)}});
  }
  if (options.json) {
    out << boost::json::serialize(boost::json::object{{"targets", std::move(rows)}}) << "\n";
  } else {
    table.print(out);
  }
  return 0;
}

}  // namespace gitopsd::ctl
