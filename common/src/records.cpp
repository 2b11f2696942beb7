#include "gitopsd/records.hpp"

#include "json_fields.hpp"

namespace gitopsd {

using namespace json_fields;

namespace {

constexpr std::string_view kResultSchema = "gitopsd.result.v1";
constexpr std::string_view kStateSchema = "gitopsd.state.v1";
constexpr std::string_view kCommitStatusSchema = "gitopsd.commit-status.v1";
constexpr std::string_view kStateOptional[] = {"last_error"};
constexpr std::string_view kDeadLetterOptional[] = {"event", "raw"};

}  // namespace

std::string target_key(std::string_view repository, std::string_view target) {
  return std::string(repository) + "/" + std::string(target);
}

std::string to_json(const Result& r) { return write_record(kResultSchema, r); }

std::string to_json(const StateRecord& s) { return write_record(kStateSchema, s, kStateOptional); }

// DLQ values carry no schema name (DESIGN.md: the original event, error and attempts).
std::string to_json(const DeadLetter& d) { return write_record("", d, kDeadLetterOptional); }

std::string to_json(const DlqReplay& m) { return write_record(kDlqReplaySchema, m); }

std::variant<Result, std::string> parse_result(std::string_view text) {
  return read_record<Result>(text, kResultSchema, {}, [](const Result& r, Reader& f, const auto&) {
    f.check(!r.repository.empty(), "repository", "is empty");
    f.check(!r.target.empty(), "target", "is empty");
    f.check(is_commit(r.commit), "commit", "is not a 40-hex commit id");
    f.check(r.attempt >= 1, "attempt", "is below 1");
    f.check(is_timestamp(r.started_at), "started_at", "is not an RFC 3339 UTC time with millis");
    f.check(is_timestamp(r.finished_at), "finished_at", "is not an RFC 3339 UTC time with millis");
    f.check(r.duration_ms >= 0, "duration_ms", "is negative");
  });
}

std::variant<StateRecord, std::string> parse_state(std::string_view text) {
  return read_record<StateRecord>(
      text, kStateSchema, kStateOptional, [](const StateRecord& s, Reader& f, const auto&) {
        if (s.last_error)
          f.check(is_timestamp(s.last_error->at), "last_error.at",
                  "is not an RFC 3339 UTC time with millis");
        // A target whose first apply failed has a state record with its error and nothing applied.
        const bool never_applied = s.last_error && s.commit.empty() && s.tree.empty() &&
                                   s.applied_at.empty() && s.status == ResultStatus::failed;
        f.check(!s.repository.empty(), "repository", "is empty");
        f.check(!s.target.empty(), "target", "is empty");
        f.check(never_applied || is_commit(s.commit), "commit", "is not a 40-hex commit id");
        f.check(never_applied || is_commit(s.tree), "tree", "is not a 40-hex object id");
        f.check(never_applied || is_timestamp(s.applied_at), "applied_at",
                "is not an RFC 3339 UTC time with millis");
      });
}

std::string to_json(const CommitStatusRecord& c) { return write_record(kCommitStatusSchema, c); }

std::variant<CommitStatusRecord, std::string> parse_commit_status(std::string_view text) {
  return read_record<CommitStatusRecord>(
      text, kCommitStatusSchema, {}, [](const CommitStatusRecord& c, Reader& f, const auto&) {
        f.check(!c.repository.empty(), "repository", "is empty");
        f.check(!c.target.empty(), "target", "is empty");
        f.check(is_commit(c.commit), "commit", "is not a 40-hex commit id");
        f.check(c.attempts >= 0, "attempts", "is negative");
        f.check(is_timestamp(c.at), "at", "is not an RFC 3339 UTC time with millis");
      });
}

std::variant<DlqReplay, std::string> parse_dlq_replay(std::string_view text) {
  return read_record<DlqReplay>(
      text, kDlqReplaySchema, {}, [](const DlqReplay& m, Reader& f, const auto&) {
        f.check(m.partition >= 0, "partition", "is negative");
        f.check(m.offset >= 0, "offset", "is negative");
        f.check(is_timestamp(m.replayed_at), "replayed_at",
                "is not an RFC 3339 UTC time with millis");
      });
}

}  // namespace gitopsd
