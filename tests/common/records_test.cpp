#include "gitopsd/records.hpp"

#include <gtest/gtest.h>

#include "schema_validator.hpp"

namespace gitopsd {
namespace {

const std::string kResultSchema = GITOPSD_SOURCE_DIR "/schemas/result.v1.json";
const std::string kStateSchema = GITOPSD_SOURCE_DIR "/schemas/state.v1.json";
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
  EXPECT_NE(std::get<std::string>(parse_result(text)).find("status"), std::string::npos);

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

}  // namespace
}  // namespace gitopsd
