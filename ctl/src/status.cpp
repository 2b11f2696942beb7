#include "gitopsd/ctl/status.hpp"

#include <boost/json.hpp>
#include <map>

#include "gitopsd/ctl/output.hpp"
#include "gitopsd/records.hpp"
#include "gitopsd/topic_reader.hpp"

namespace gitopsd::ctl {
namespace {

// The last record per target of a compacted topic: compaction may not have run yet, so the
// last record per key wins and a tombstone removes it. Records that do not parse are skipped
// (said on `err`).
template <typename Record, typename Parse>
std::map<std::string, Record> last_per_target(const std::vector<TopicRecord>& records, Parse parse,
                                              std::ostream& err) {
  std::map<std::string, Record> out;
  for (const auto& record : records) {
    if (!record.value) {
      out.erase(record.key);
      continue;
    }
    auto parsed = parse(*record.value);
    if (auto* r = std::get_if<Record>(&parsed)) {
      out[target_key(r->repository, r->target)] = std::move(*r);
    } else {
      err << "gitopsctl: status: skipping record " << record.topic << " " << record.partition
          << ":" << record.offset << ": " << std::get<std::string>(parsed) << "\n";
    }
  }
  return out;
}

std::string tries(std::int64_t n) { return std::to_string(n) + (n == 1 ? " try" : " tries"); }

// "success set 2026-11-23 19:51:42", "failure NOT set after 8 tries: HTTP 401: …", plus
// "(for abc1234, not the running commit)" when the status is about another commit.
std::string describe_commit_status(const CommitStatusRecord& c,
                                   const std::string& running_commit) {
  std::string text = std::string(enum_name(c.state)) +
                     (c.set ? " set " + short_time(c.at)
                            : " NOT set after " + tries(c.attempts) + ": " + one_line(c.error, 60));
  if (c.commit != running_commit)
    text += " (for " + c.commit.substr(0, 7) + ", not the running commit)";
  return text;
}

}  // namespace

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
  auto state = last_per_target<StateRecord>(std::get<std::vector<TopicRecord>>(records),
                                            parse_state, err);
  // Written by gitopsd-notifier. A cluster set up before it existed has no statuses topic
  // until init-topics is rerun: status still shows the state, and says why once.
  std::map<std::string, CommitStatusRecord> statuses;
  std::optional<std::string> statuses_unavailable;
  const auto& statuses_topic = config.kafka.topics.statuses;
  auto status_records = read_topic_if_exists(config.kafka, statuses_topic, options.timeout);
  if (auto* error = std::get_if<std::string>(&status_records)) {
    statuses_unavailable = statuses_topic + ": " + *error;
  } else if (auto& read = std::get<0>(status_records); !read) {
    statuses_unavailable =
        "topic " + statuses_topic + " does not exist (gitopsctl init-topics creates it)";
  } else {
    statuses = last_per_target<CommitStatusRecord>(*read, parse_commit_status, err);
  }
  if (statuses_unavailable)
    err << "gitopsctl: status: commit statuses not shown: " << *statuses_unavailable << "\n";

  // Configured targets no worker has reported on yet are listed too.
  for (const auto& r : config.repositories)
    for (const auto& t : r.targets)
      if (!state.contains(target_key(r.name, t.name)))
        state[target_key(r.name, t.name)] = StateRecord{.repository = r.name, .target = t.name};

  const auto now = now_ms();
  boost::json::array rows;
  Table table({"REPOSITORY", "TARGET", "COMMIT", "STATUS", "APPLIED AT", "AGE", "LAST ERROR",
               "COMMIT STATUS"});
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
    const auto commit_status = statuses.find(key);
    std::string commit_status_text = statuses_unavailable ? "-" : "none";
    boost::json::value commit_status_json = nullptr;
    if (commit_status != statuses.end()) {
      const auto& c = commit_status->second;
      commit_status_text = describe_commit_status(c, s.commit);
      commit_status_json = boost::json::object{{"state", std::string(enum_name(c.state))},
                                               {"set", c.set},
                                               {"commit", c.commit},
                                               {"for_running_commit", c.commit == s.commit},
                                               {"attempts", c.attempts},
                                               {"error", c.error},
                                               {"event_id", c.event_id},
                                               {"at", c.at}};
    }
    table.add({s.repository, s.target, s.commit.empty() ? "-" : s.commit.substr(0, 7), status,
               applied_ms ? short_time(s.applied_at) : "-",
               applied_ms ? format_age(now - *applied_ms) : "-", last_error, commit_status_text});
    boost::json::value age = nullptr;
    if (applied_ms) age = (now - *applied_ms) / 1000;
    rows.push_back(boost::json::object{
        {"repository", s.repository},
        {"target", s.target},
        {"commit", s.commit.empty() ? boost::json::value(nullptr) : boost::json::value(s.commit)},
        {"status", status},
        {"applied_at", applied_ms ? boost::json::value(s.applied_at) : boost::json::value(nullptr)},
        {"age_seconds", age},
        {"last_error", boost::json::value_from(s.last_error)},
        {"commit_status", std::move(commit_status_json)}});
  }
  if (options.json) {
    boost::json::value unavailable = nullptr;
    if (statuses_unavailable) unavailable = *statuses_unavailable;
    out << boost::json::serialize(boost::json::object{
               {"targets", std::move(rows)},
               {"commit_statuses_unavailable", std::move(unavailable)}})
        << "\n";
  } else {
    table.print(out);
  }
  return 0;
}

}  // namespace gitopsd::ctl
