// What the workers publish: gitopsd.result.v1 on the results topic (the audit log, one per
// target per event) and gitopsd.state.v1 on the compacted state topic (what each target runs).
// Field names are part of DESIGN.md's contract; schemas in schemas/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace gitopsd {

// applied | unchanged | superseded | failed | drift_corrected | drift_detected
struct Result {
  std::string event_id;
  std::string repository;
  std::string target;
  std::string commit;  // 40 hex; what the target was brought to (or refused)
  std::string status;
  bool rollback = false;  // moved to an ancestor of what ran (the branch was reset)
  std::int64_t attempt = 1;
  std::string worker;  // worker id (host:pid or configured)
  std::string started_at;
  std::string finished_at;
  std::int64_t duration_ms = 0;
  std::string message;      // why, in a sentence
  std::string output_tail;  // of `exec` / `after` commands
};

// Why the target's latest apply (or fetch, or drift check) failed; the state keeps the
// commit that still runs. Cleared by the next applied, drift_corrected or in-sync result.
struct LastError {
  std::string at;  // RFC 3339 UTC with millis
  std::string event_id;
  std::string commit;  // what the failed attempt tried to bring the target to
  std::string message;
};

struct StateRecord {
  std::string repository;
  std::string target;
  std::string commit;  // "" only when never applied (then last_error is set)
  std::string tree;    // the target subtree's object id ("" when never applied)
  std::string status;  // status of the result that set it ("failed" when never applied)
  std::string applied_at;  // "" when never applied
  std::optional<LastError> last_error;  // optional field "last_error" in the JSON
};

std::string to_json(const Result& result);
std::string to_json(const StateRecord& state);
std::variant<Result, std::string> parse_result(std::string_view json);
std::variant<StateRecord, std::string> parse_state(std::string_view json);

// Key of both topics: "repository/target".
std::string target_key(std::string_view repository, std::string_view target);

}  // namespace gitopsd
