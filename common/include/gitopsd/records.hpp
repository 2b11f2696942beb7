// What the workers publish: gitopsd.result.v1 on the results topic (the audit log, one per
// target per event), gitopsd.state.v1 on the compacted state topic (what each target runs) and
// dead letters on the DLQ topic, where `gitopsctl dlq replay` adds gitopsd.dlq-replay.v1
// markers. Field names are part of DESIGN.md's contract; schemas in schemas/.
#pragma once

#include <boost/describe/class.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gitopsd/enum_names.hpp"
#include "gitopsd/event.hpp"

namespace gitopsd {

enum class ResultStatus { applied, unchanged, superseded, failed, drift_corrected, drift_detected };
BOOST_DESCRIBE_ENUM(ResultStatus, applied, unchanged, superseded, failed, drift_corrected,
                    drift_detected)

struct Result {
  std::string event_id;
  std::string repository;
  std::string target;
  std::string commit;  // 40 hex; what the target was brought to (or refused)
  ResultStatus status = ResultStatus::applied;
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
  ResultStatus status = ResultStatus::applied;  // of the result that set it (or failed)
  std::string applied_at;  // "" when never applied
  std::optional<LastError> last_error;  // optional field "last_error" in the JSON
};

// A DLQ value: an event whose apply failed every attempt, or the raw value of one refused
// before any apply (malformed, or for a repository the worker does not have).
struct DeadLetter {
  std::optional<Event> event;  // field present only for a failed apply
  std::string raw;             // field present only for a refused value
  std::string error;
  std::int64_t attempts = 0;
  std::string worker;
  std::string failed_at;
};

// Written to the DLQ topic after a replayed entry's event was acknowledged on the events topic.
struct DlqReplay {
  std::int64_t partition = 0;  // of the entry replayed
  std::int64_t offset = 0;
  std::string event_id;
  std::string replayed_at;
};

// A commit status on the Git host (GitLab's API says "failed" for failure).
enum class CommitState { pending, success, failure };
BOOST_DESCRIBE_ENUM(CommitState, pending, success, failure)

// gitopsd.commit-status.v1, written by gitopsd-notifier on the compacted statuses topic
// (key "repository/target") after each try of a commit status ends: what it last tried to set
// for the target, and whether the Git host took it. gitopsctl status shows it.
struct CommitStatusRecord {
  std::string repository;
  std::string target;
  std::string commit;  // 40 hex
  CommitState state = CommitState::pending;
  bool set = false;           // the host answered 2xx
  std::int64_t attempts = 0;  // tries made
  std::string error;          // why not set ("" when set): the host's answer, never the token
  std::string event_id;
  std::string at;  // RFC 3339 UTC with millis, when the last try ended
};

// The JSON fields, in DESIGN.md's order.
BOOST_DESCRIBE_STRUCT(Result, (), (event_id, repository, target, commit, status, rollback, attempt,
                                   worker, started_at, finished_at, duration_ms, message,
                                   output_tail))
BOOST_DESCRIBE_STRUCT(LastError, (), (at, event_id, commit, message))
BOOST_DESCRIBE_STRUCT(StateRecord, (), (repository, target, commit, tree, status, applied_at,
                                        last_error))
BOOST_DESCRIBE_STRUCT(DeadLetter, (), (event, raw, error, attempts, worker, failed_at))
BOOST_DESCRIBE_STRUCT(DlqReplay, (), (partition, offset, event_id, replayed_at))
BOOST_DESCRIBE_STRUCT(CommitStatusRecord, (), (repository, target, commit, state, set, attempts,
                                               error, event_id, at))

std::string to_json(const Result& result);
std::string to_json(const StateRecord& state);
std::variant<Result, std::string> parse_result(std::string_view json);
std::variant<StateRecord, std::string> parse_state(std::string_view json);
std::string to_json(const DeadLetter& dead_letter);
std::string to_json(const DlqReplay& marker);
// The schema's name, for telling markers from dead letters on the DLQ topic.
inline constexpr std::string_view kDlqReplaySchema = "gitopsd.dlq-replay.v1";
std::variant<DlqReplay, std::string> parse_dlq_replay(std::string_view json);

std::string to_json(const CommitStatusRecord& record);
std::variant<CommitStatusRecord, std::string> parse_commit_status(std::string_view json);

// Key of both topics: "repository/target".
std::string target_key(std::string_view repository, std::string_view target);

}  // namespace gitopsd
