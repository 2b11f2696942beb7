#include "gitopsd/records.hpp"

#include <gtest/gtest.h>

#include "schema_validator.hpp"

namespace gitopsd {
namespace {

const std::string kResultSchema = GITOPSD_SOURCE_DIR "/schemas/result.v1.json";
const std::string kStateSchema = GITOPSD_SOURCE_DIR "/schemas/state.v1.json";
const std::string kDlqReplaySchemaPath = GITOPSD_SOURCE_DIR "/schemas/dlq-replay.v1.json";
const std::string kCommit = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";
const std::string kTree = "8a1f2c4be0f3d6a7c9e5b4d3f2a1908b7c6d5e4f";

Result sample_result() {
  Result r;
  r.event_id = "5b1e6c3a-7f2d-4c1e-9a8b-0d1e2f3a4b5c";
  r.repository = "infra";
  r.target = "web";
  r.commit = kCommit;
  r.status = ResultStatus::applied;
  r.rollback = true;
  r.attempt = 2;
  r.worker = "host-a:1234";
  r.started_at = "2026-11-23T13:00:00.123Z";
  r.finished_at = "2026-11-23T13:00:01.456Z";
  r.duration_ms = 1333;
  r.message = "applied 3 files";
  r.output_tail = "reloaded\n";
  return r;
}

TEST(RecordsTest, ResultRoundTripsAndMatchesItsSchema) {
  auto text = to_json(sample_result());
  EXPECT_TRUE(test::matches_schema(text, kResultSchema));
  auto parsed = parse_result(text);
  ASSERT_TRUE(std::holds_alternative<Result>(parsed)) << std::get<std::string>(parsed);
  const auto& r = std::get<Result>(parsed);
  EXPECT_EQ(r.commit, kCommit);
  EXPECT_TRUE(r.rollback);
  EXPECT_EQ(r.attempt, 2);
  EXPECT_EQ(r.output_tail, "reloaded\n");
}

TEST(RecordsTest, StateRoundTripsAndMatchesItsSchema) {
  StateRecord s{"infra", "web", kCommit, kTree, ResultStatus::applied, "2026-11-23T13:00:01.456Z"};
  auto text = to_json(s);
  EXPECT_TRUE(test::matches_schema(text, kStateSchema));
  auto parsed = parse_state(text);
  ASSERT_TRUE(std::holds_alternative<StateRecord>(parsed)) << std::get<std::string>(parsed);
  EXPECT_EQ(std::get<StateRecord>(parsed).tree, kTree);
}

TEST(RecordsTest, ParsersRefuseWhatTheSchemasRefuse) {
  // A status no enumerator names can only come from outside: edit the text.
  auto text = to_json(sample_result());
  const std::string applied = R"("status":"applied")";
  text.replace(text.find(applied), applied.size(), R"("status":"done")");
  EXPECT_EQ(test::run_schema_validator(text, kResultSchema).exit_code, test::kSchemaMismatch);
  ASSERT_TRUE(std::holds_alternative<std::string>(parse_result(text)));
  EXPECT_EQ(std::get<std::string>(parse_result(text)),
            "field 'status' is not applied, unchanged, superseded, failed, drift_corrected or "
            "drift_detected");

  StateRecord s{"infra", "web", kCommit.substr(1), kTree, ResultStatus::applied, "2026-11-23T13:00:01.456Z"};
  EXPECT_EQ(test::run_schema_validator(to_json(s), kStateSchema).exit_code, test::kSchemaMismatch);
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_state(to_json(s))));
}

TEST(RecordsTest, ParsersRefuseAnotherSchemaAndUnknownFields) {
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_state(to_json(sample_result()))));
  auto text = to_json(sample_result());
  text.insert(text.size() - 1, ",\"extra\":1");
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_result(text)));
}

TEST(RecordsTest, KeyIsRepositorySlashTarget) { EXPECT_EQ(target_key("infra", "web"), "infra/web"); }

}  // namespace
}  // namespace gitopsd

namespace gitopsd {
namespace {

TEST(StateLastErrorTest, RoundTripsAndAllowsNeverAppliedOnlyWithAnError) {
  StateRecord never{"infra", "web", "", "", ResultStatus::failed, "",
                    LastError{"2026-11-23T13:00:00.123Z", "e1", std::string(40, 'a'), "boom"}};
  auto parsed = parse_state(to_json(never));
  ASSERT_TRUE(std::holds_alternative<StateRecord>(parsed)) << std::get<std::string>(parsed);
  const auto& s = std::get<StateRecord>(parsed);
  ASSERT_TRUE(s.last_error.has_value());
  EXPECT_EQ(s.last_error->message, "boom");
  EXPECT_EQ(s.commit, "");
  never.last_error.reset();
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_state(to_json(never))));
}

// last_error is optional: absent when there is none, never null; its fields are checked too.
TEST(StateLastErrorTest, AbsentWhenNoneAndRefusedWhenNullOrWrong) {
  StateRecord s{"infra", "web", kCommit, kTree, ResultStatus::applied, "2026-11-23T13:00:01.456Z"};
  EXPECT_EQ(to_json(s).find("last_error"), std::string::npos);
  const auto with_error = [&](std::string_view error) {
    std::string text = to_json(s);
    text.insert(text.size() - 1, ",\"last_error\":" + std::string(error));
    const auto parsed = parse_state(text);
    return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "parsed";
  };
  EXPECT_EQ(with_error("null"), "field 'last_error' is not an object");
  EXPECT_EQ(with_error(R"({"at":"now","event_id":"e1","commit":"c","message":"m"})"),
            "field 'last_error.at' is not an RFC 3339 UTC time with millis");
  EXPECT_EQ(with_error(R"({"at":"2026-11-23T13:00:00.123Z","event_id":"e1","commit":"c"})"),
            "field 'last_error.message' missing");
  EXPECT_EQ(with_error(R"({"at":"2026-11-23T13:00:00.123Z","event_id":"e1","commit":"c",)"
                       R"("message":"m","extra":1})"),
            "field 'last_error.extra' is not part of gitopsd.state.v1");
  EXPECT_EQ(
      with_error(R"({"at":"2026-11-23T13:00:00.123Z","event_id":"e1","commit":"c","message":"m"})"),
      "parsed");
}

}  // namespace
}  // namespace gitopsd

namespace gitopsd {
namespace {

// DESIGN.md: the original event (as on the events topic) + error + attempts; no schema name.
TEST(DlqRecordsTest, DeadLetterCarriesTheEventOrTheRawValueWithWhy) {
  Event e;
  e.event_id = "0b7c9c1e-8a0e-4c1e-9a43-8c2f1e1f0a11";
  e.received_at = "2026-11-23T13:00:00.123Z";
  e.repository = "infra";
  e.branch = "main";
  e.before = e.after = kCommit;
  const DeadLetter failed{.event = e, .error = "exit 1", .attempts = 3, .worker = "host-a:1",
                          .failed_at = "2026-11-23T13:00:09.000Z"};
  EXPECT_EQ(to_json(failed), R"({"event":)" + to_json(e) +
                                 R"(,"error":"exit 1","attempts":3,"worker":"host-a:1",)"
                                 R"("failed_at":"2026-11-23T13:00:09.000Z"})");
  const DeadLetter refused{.raw = "{not json", .error = "malformed event: not valid JSON",
                           .worker = "host-a:1", .failed_at = "2026-11-23T13:00:09.000Z"};
  EXPECT_EQ(to_json(refused),
            R"({"raw":"{not json","error":"malformed event: not valid JSON","attempts":0,)"
            R"("worker":"host-a:1","failed_at":"2026-11-23T13:00:09.000Z"})");
}

TEST(DlqRecordsTest, ReplayMarkerRoundTripsMatchesItsSchemaAndRefusesANegativeOffset) {
  DlqReplay m{.partition = 2, .offset = 17, .event_id = "e1",
              .replayed_at = "2026-11-23T13:00:00.123Z"};
  const std::string text = to_json(m);
  EXPECT_EQ(text, R"({"schema":"gitopsd.dlq-replay.v1","partition":2,"offset":17,)"
                  R"("event_id":"e1","replayed_at":"2026-11-23T13:00:00.123Z"})");
  EXPECT_TRUE(test::matches_schema(text, kDlqReplaySchemaPath));
  auto parsed = parse_dlq_replay(text);
  ASSERT_TRUE(std::holds_alternative<DlqReplay>(parsed)) << std::get<std::string>(parsed);
  EXPECT_EQ(std::get<DlqReplay>(parsed).offset, 17);
  m.offset = -1;
  EXPECT_EQ(test::run_schema_validator(to_json(m), kDlqReplaySchemaPath).exit_code,
            test::kSchemaMismatch);
  parsed = parse_dlq_replay(to_json(m));
  ASSERT_TRUE(std::holds_alternative<std::string>(parsed));
  EXPECT_EQ(std::get<std::string>(parsed), "field 'offset' is negative");
}

}  // namespace
}  // namespace gitopsd

namespace gitopsd {
namespace {

const std::string kCommitStatusSchemaPath = GITOPSD_SOURCE_DIR "/schemas/commit-status.v1.json";

CommitStatusRecord sample_commit_status() {
  return {.repository = "infra", .target = "web", .commit = kCommit, .state = CommitState::failure,
          .set = false, .attempts = 8, .error = "HTTP 401: Bad credentials", .event_id = "e1",
          .at = "2026-11-23T13:00:02.000Z"};
}

// The notifier writes it, gitopsctl status reads it: both through to_json / parse_commit_status.
TEST(CommitStatusRecordTest, RoundTripsAndMatchesItsSchema) {
  const std::string text = to_json(sample_commit_status());
  EXPECT_EQ(text, R"({"schema":"gitopsd.commit-status.v1","repository":"infra","target":"web",)"
                  R"("commit":")" + kCommit + R"(","state":"failure","set":false,"attempts":8,)"
                  R"("error":"HTTP 401: Bad credentials","event_id":"e1",)"
                  R"("at":"2026-11-23T13:00:02.000Z"})");
  EXPECT_TRUE(test::matches_schema(text, kCommitStatusSchemaPath));
  auto parsed = parse_commit_status(text);
  ASSERT_TRUE(std::holds_alternative<CommitStatusRecord>(parsed)) << std::get<std::string>(parsed);
  const auto& c = std::get<CommitStatusRecord>(parsed);
  EXPECT_EQ(c.repository, "infra");
  EXPECT_EQ(c.target, "web");
  EXPECT_EQ(c.commit, kCommit);
  EXPECT_EQ(c.state, CommitState::failure);
  EXPECT_FALSE(c.set);
  EXPECT_EQ(c.attempts, 8);
  EXPECT_EQ(c.error, "HTTP 401: Bad credentials");
  EXPECT_EQ(c.event_id, "e1");
  EXPECT_EQ(c.at, "2026-11-23T13:00:02.000Z");

  auto set = sample_commit_status();
  set.state = CommitState::success;
  set.set = true;
  set.error = "";
  EXPECT_TRUE(test::matches_schema(to_json(set), kCommitStatusSchemaPath));
  parsed = parse_commit_status(to_json(set));
  ASSERT_TRUE(std::holds_alternative<CommitStatusRecord>(parsed)) << std::get<std::string>(parsed);
  EXPECT_TRUE(std::get<CommitStatusRecord>(parsed).set);
  EXPECT_EQ(std::get<CommitStatusRecord>(parsed).state, CommitState::success);
}

// Each bad value is refused by the parser and by the schema alike.
TEST(CommitStatusRecordTest, ParserRefusesWhatTheSchemaRefuses) {
  const auto refused = [](const std::string& text) {
    EXPECT_EQ(test::run_schema_validator(text, kCommitStatusSchemaPath).exit_code,
              test::kSchemaMismatch) << text;
    const auto parsed = parse_commit_status(text);
    return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "parsed";
  };
  const auto edited = [](std::string_view from, std::string_view to) {
    std::string text = to_json(sample_commit_status());
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  EXPECT_EQ(refused(edited(R"("state":"failure")", R"("state":"failed")")),
            "field 'state' is not pending, success or failure");
  EXPECT_EQ(refused(edited(R"("set":false)", R"("set":"no")")), "field 'set' is not a boolean");
  EXPECT_EQ(refused(edited(R"("attempts":8)", R"("attempts":-1)")), "field 'attempts' is negative");
  EXPECT_EQ(refused(edited(kCommit, kCommit.substr(0, 7))),
            "field 'commit' is not a 40-hex commit id");
  EXPECT_EQ(refused(edited(R"("repository":"infra")", R"("repository":"")")),
            "field 'repository' is empty");
  EXPECT_EQ(refused(edited(R"("target":"web")", R"("target":"")")), "field 'target' is empty");
  EXPECT_EQ(refused(edited("2026-11-23T13:00:02.000Z", "2026-11-23 13:00:02")),
            "field 'at' is not an RFC 3339 UTC time with millis");
  EXPECT_EQ(refused(edited(R"(,"event_id":"e1")", "")), "field 'event_id' missing");
  EXPECT_EQ(refused(edited(R"("event_id":"e1")", R"("event_id":"e1","extra":1)")),
            "field 'extra' is not part of gitopsd.commit-status.v1");
  EXPECT_NE(refused(edited("gitopsd.commit-status.v1", "gitopsd.state.v1")), "parsed");
}

}  // namespace
}  // namespace gitopsd
