// What the workers publish: gitopsd.result.v1 on the results topic (the audit log, one per
// target per event) and gitopsd.state.v1 on the compacted state topic (what each target runs).
// Field names are part of DESIGN.md's contract; schemas in schemas/.
#pragma once

#include <cstdint>
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

struct StateRecord {
  std::string repository;
  std::string target;
  std::string commit;
  std::string tree;    // the target subtree's object id
  std::string status;  // status of the result that set it
  std::string applied_at;
};

std::string to_json(const Result& result);
std::string to_json(const StateRecord& state);
std::variant<Result, std::string> parse_result(std::string_view json);
std::variant<StateRecord, std::string> parse_state(std::string_view json);

// Key of both topics: "repository/target".
std::string target_key(std::string_view repository, std::string_view target);

}  // namespace gitopsd
