#include "gitopsd/records.hpp"

#include <array>

#include "json_fields.hpp"

namespace gitopsd {
namespace json = boost::json;
using namespace json_fields;

namespace {

constexpr std::string_view kResultSchema = "gitopsd.result.v1";
constexpr std::string_view kStateSchema = "gitopsd.state.v1";
constexpr std::array<std::string_view, 6> kStatuses = {
    "applied", "unchanged", "superseded", "failed", "drift_corrected", "drift_detected"};
constexpr std::array<std::string_view, 14> kResultFields = {
    "schema", "event_id",    "repository", "target",      "commit",  "status",  "rollback",
    "attempt", "worker", "started_at", "finished_at", "duration_ms", "message", "output_tail"};
constexpr std::array<std::string_view, 8> kStateFields = {
    "schema", "repository", "target", "commit", "tree", "status", "applied_at", "last_error"};
constexpr std::array<std::string_view, 4> kLastErrorFields = {"at", "event_id", "commit",
                                                              "message"};

// Parses `text` and checks its schema name; on failure returns the reason.
std::variant<json::value, std::string> parse_record(std::string_view text, std::string_view schema) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return "not valid JSON: " + ec.message();
  if (!root.is_object()) return std::string("not a JSON object");
  const json::value* s = root.get_object().if_contains("schema");
  if (s == nullptr || !s->is_string() || s->get_string() != schema)
    return "schema is not " + std::string(schema);
  return root;
}

}  // namespace

std::string target_key(std::string_view repository, std::string_view target) {
  return std::string(repository) + "/" + std::string(target);
}

std::string to_json(const Result& r) {
  return json::serialize(json::object{{"schema", kResultSchema},
                                      {"event_id", r.event_id},
                                      {"repository", r.repository},
                                      {"target", r.target},
                                      {"commit", r.commit},
                                      {"status", r.status},
                                      {"rollback", r.rollback},
                                      {"attempt", r.attempt},
                                      {"worker", r.worker},
                                      {"started_at", r.started_at},
                                      {"finished_at", r.finished_at},
                                      {"duration_ms", r.duration_ms},
                                      {"message", r.message},
                                      {"output_tail", r.output_tail}});
}

std::string to_json(const StateRecord& s) {
  json::object obj{{"schema", kStateSchema}, {"repository", s.repository}, {"target", s.target},
                   {"commit", s.commit},     {"tree", s.tree},             {"status", s.status},
                   {"applied_at", s.applied_at}};
  if (s.last_error)
    obj["last_error"] = json::object{{"at", s.last_error->at},
                                     {"event_id", s.last_error->event_id},
                                     {"commit", s.last_error->commit},
                                     {"message", s.last_error->message}};
  return json::serialize(obj);
}

std::variant<Result, std::string> parse_result(std::string_view text) {
  auto root = parse_record(text, kResultSchema);
  if (auto* error = std::get_if<std::string>(&root)) return std::move(*error);
  Reader f(std::get<json::value>(root).get_object(), "", kResultSchema);
  f.reject_unknown(kResultFields);
  Result r;
  r.event_id = f.str("event_id");
  r.repository = f.str("repository");
  r.target = f.str("target");
  r.commit = f.str("commit");
  r.status = f.str("status");
  r.rollback = f.boolean("rollback");
  r.attempt = f.integer("attempt");
  r.worker = f.str("worker");
  r.started_at = f.str("started_at");
  r.finished_at = f.str("finished_at");
  r.duration_ms = f.integer("duration_ms");
  r.message = f.str("message");
  r.output_tail = f.str("output_tail");
  f.check(!r.repository.empty(), "repository", "is empty");
  f.check(!r.target.empty(), "target", "is empty");
  f.check(is_commit(r.commit), "commit", "is not a 40-hex commit id");
  f.check(one_of(r.status, kStatuses), "status", "is not a result status");
  f.check(r.attempt >= 1, "attempt", "is below 1");
  f.check(is_timestamp(r.started_at), "started_at", "is not an RFC 3339 UTC time with millis");
  f.check(is_timestamp(r.finished_at), "finished_at", "is not an RFC 3339 UTC time with millis");
  f.check(r.duration_ms >= 0, "duration_ms", "is negative");
  if (!f.error().empty()) return std::move(f.error());
  return r;
}

std::variant<StateRecord, std::string> parse_state(std::string_view text) {
  auto root = parse_record(text, kStateSchema);
  if (auto* error = std::get_if<std::string>(&root)) return std::move(*error);
  Reader f(std::get<json::value>(root).get_object(), "", kStateSchema);
  f.reject_unknown(kStateFields);
  StateRecord s;
  s.repository = f.str("repository");
  s.target = f.str("target");
  s.commit = f.str("commit");
  s.tree = f.str("tree");
  s.status = f.str("status");
  s.applied_at = f.str("applied_at");
  if (!f.error().empty()) return std::move(f.error());
  const auto& obj = std::get<json::value>(root).get_object();
  if (const json::value* e = obj.if_contains("last_error")) {
    if (!e->is_object()) return std::string("field 'last_error' is not an object");
    Reader l(e->get_object(), "last_error.", kStateSchema);
    l.reject_unknown(kLastErrorFields);
    LastError last;
    last.at = l.str("at");
    last.event_id = l.str("event_id");
    last.commit = l.str("commit");
    last.message = l.str("message");
    l.check(is_timestamp(last.at), "at", "is not an RFC 3339 UTC time with millis");
    if (!l.error().empty()) return std::move(l.error());
    s.last_error = std::move(last);
  }
  // A target whose first apply failed has a state record with its error and nothing applied.
  const bool never_applied = s.last_error && s.commit.empty() && s.tree.empty() &&
                             s.applied_at.empty() && s.status == "failed";
  f.check(!s.repository.empty(), "repository", "is empty");
  f.check(!s.target.empty(), "target", "is empty");
  f.check(never_applied || is_commit(s.commit), "commit", "is not a 40-hex commit id");
  f.check(never_applied || is_commit(s.tree), "tree", "is not a 40-hex object id");
  f.check(one_of(s.status, kStatuses), "status", "is not a result status");
  f.check(never_applied || is_timestamp(s.applied_at), "applied_at",
          "is not an RFC 3339 UTC time with millis");
  if (!f.error().empty()) return std::move(f.error());
  return s;
}

}  // namespace gitopsd
