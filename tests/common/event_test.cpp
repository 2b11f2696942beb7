#include "gitopsd/event.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "schema_validator.hpp"

namespace gitopsd {
namespace {

namespace json = boost::json;

Event push_event() {
  Event e;
  e.event_id = "0f8e6d1c-3b2a-4c5d-9e8f-7a6b5c4d3e2f";
  e.provider = EventProvider::github;
  e.delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
  e.received_at = "2026-11-23T13:00:00.123Z";
  e.repository = "infra";
  e.full_name = "acme/infra";
  e.clone_url = "https://github.com/acme/infra.git";
  e.branch = "main";
  e.kind = EventKind::push;
  e.before = "8a1f2c4be0f3d6a7c9e5b4d3f2a1908b7c6d5e4f";
  e.after = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";
  e.forced = false;
  e.sender = "octocat";
  return e;
}

Event merge_event() {
  Event e = push_event();
  e.kind = EventKind::merge;
  e.merge_request =
      MergeRequest{42, "Scale \"web\"\nto 4", "https://github.com/acme/infra/pull/42", "hubot"};
  return e;
}

// A valid merge event's JSON with one field set (added, replaced) or removed.
std::string with(std::string_view key, json::value value) {
  json::object obj = json::parse(to_json(merge_event())).as_object();
  obj[key] = std::move(value);
  return json::serialize(obj);
}
std::string without(std::string_view key) {
  json::object obj = json::parse(to_json(merge_event())).as_object();
  obj.erase(key);
  return json::serialize(obj);
}

TEST(EventTest, ToJsonEmitsDesignFieldsInDesignOrder) {
  EXPECT_EQ(to_json(push_event()),
            R"({"schema":"gitopsd.event.v1","event_id":"0f8e6d1c-3b2a-4c5d-9e8f-7a6b5c4d3e2f",)"
            R"("provider":"github","delivery_id":"72d3162e-cc78-11e3-81ab-4c9367dc0958",)"
            R"("received_at":"2026-11-23T13:00:00.123Z","repository":"infra",)"
            R"("full_name":"acme/infra","clone_url":"https://github.com/acme/infra.git",)"
            R"("branch":"main","kind":"push",)"
            R"("before":"8a1f2c4be0f3d6a7c9e5b4d3f2a1908b7c6d5e4f",)"
            R"("after":"3b18e512dba79e4c8300dd08aeb37f8e728b8dad","forced":false,)"
            R"("sender":"octocat","merge_request":null})");
}

TEST(EventTest, ToJsonEmitsMergeRequestObject) {
  const json::value v = json::parse(to_json(merge_event()));
  EXPECT_EQ(json::serialize(v.at("merge_request")),
            R"({"number":42,"title":"Scale \"web\"\nto 4",)"
            R"("url":"https://github.com/acme/infra/pull/42","author":"hubot"})");
}

TEST(EventTest, ParseEventRoundTripsPushAndMerge) {
  for (const Event& e : {push_event(), merge_event()}) {
    auto parsed = parse_event(to_json(e));
    ASSERT_TRUE(std::holds_alternative<Event>(parsed)) << std::get<std::string>(parsed);
    EXPECT_EQ(to_json(std::get<Event>(parsed)), to_json(e));
  }
}

TEST(EventTest, ParseEventAcceptsPollAndManualFromGitopsd) {
  Event e = push_event();
  e.provider = EventProvider::gitopsd;
  e.delivery_id = "";
  e.sender = "";
  for (const EventKind kind : {EventKind::poll, EventKind::manual}) {
    e.kind = kind;
    EXPECT_TRUE(std::holds_alternative<Event>(parse_event(to_json(e)))) << enum_name(kind);
    EXPECT_TRUE(test::matches_schema(to_json(e)));
  }
}

TEST(EventTest, ParseEventExplainsWhatIsWrong) {
  const std::string short_commit(39, 'a');
  const std::pair<std::string, std::string> cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "not a JSON object"},
      {with("schema", "gitopsd.event.v2"), "schema is 'gitopsd.event.v2', not gitopsd.event.v1"},
      {without("schema"), "field 'schema' missing"},
      {without("after"), "field 'after' missing"},
      {with("after", short_commit.c_str()), "field 'after' is not a 40-hex commit id"},
      {with("before", "3B18E512DBA79E4C8300DD08AEB37F8E728B8DAD"),
       "field 'before' is not a 40-hex commit id"},
      {with("forced", "no"), "field 'forced' is not a boolean"},
      {with("sender", 7), "field 'sender' is not a string"},
      {with("kind", "deploy"), "field 'kind' is not push, merge, poll or manual"},
      {with("provider", "bitbucket"), "field 'provider' is not github, gitlab, gitea or gitopsd"},
      {with("event_id", "42"), "field 'event_id' is not a lowercase UUID"},
      {with("received_at", "2026-11-23 13:00:00"),
       "field 'received_at' is not an RFC 3339 UTC time with millis"},
      {with("repository", ""), "field 'repository' is empty"},
      {with("extra", true), "field 'extra' is not part of gitopsd.event.v1"},
      {with("merge_request", nullptr),
       "field 'merge_request' must be an object exactly when kind is merge"},
      {with("merge_request", "!42"), "field 'merge_request' is not an object or null"},
      {with("merge_request", {{"number", 1}, {"title", "t"}, {"url", "u"}}),
       "field 'merge_request.author' missing"},
      {with("merge_request", {{"number", "1"}, {"title", "t"}, {"url", "u"}, {"author", "a"}}),
       "field 'merge_request.number' is not an integer"},
      {with("merge_request",
            {{"number", 1}, {"title", "t"}, {"url", "u"}, {"author", "a"}, {"x", 1}}),
       "field 'merge_request.x' is not part of gitopsd.event.v1"},
      {without("merge_request"), "field 'merge_request' missing"},
      {with("kind", 7), "field 'kind' is not a string"},
      {with("provider", "GitHub"), "field 'provider' is not github, gitlab, gitea or gitopsd"},
  };
  for (const auto& [text, reason] : cases) {
    const auto parsed = parse_event(text);
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << text;
    EXPECT_EQ(std::get<std::string>(parsed).substr(0, reason.size()), reason) << text;
  }
}

TEST(EventTest, SchemaAcceptsWhatToJsonWrites) {
  EXPECT_TRUE(test::matches_schema(to_json(push_event())));
  EXPECT_TRUE(test::matches_schema(to_json(merge_event())));
}

// The validator must be able to fail, or every schema assertion would be vacuous.
TEST(EventTest, SchemaRefusesWhatParseEventRefuses) {
  for (const std::string& text :
       {with("after", std::string(39, 'a').c_str()), with("kind", "deploy"), with("extra", true),
        with("merge_request", nullptr)}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_event(text))) << text;
    const test::SchemaCheck check = test::run_schema_validator(text, test::kEventSchemaPath);
    EXPECT_EQ(check.exit_code, test::kSchemaMismatch) << text << "\n" << check.output;
  }
}

}  // namespace
}  // namespace gitopsd

namespace gitopsd {
namespace {

// What `gitopsctl sync` publishes: no commit, the worker takes the branch's tip.
Event manual_event() {
  Event e;
  e.event_id = "0b7c9c1e-8a0e-4c1e-9a43-8c2f1e1f0a11";
  e.provider = EventProvider::gitopsd;
  e.received_at = "2026-11-23T13:00:00.123Z";
  e.repository = "infra";
  e.branch = "main";
  e.kind = EventKind::manual;
  e.before = e.after = std::string(40, '0');
  return e;
}

TEST(EventTargetsTest, OnlyManualEventsNameTargetsAndTheyRoundTrip) {
  Event e = manual_event();
  EXPECT_EQ(to_json(e).find("targets"), std::string::npos);  // absent unless named
  e.targets = {"web"};
  auto parsed = parse_event(to_json(e));
  ASSERT_TRUE(std::holds_alternative<Event>(parsed)) << std::get<std::string>(parsed);
  EXPECT_EQ(std::get<Event>(parsed).targets, std::vector<std::string>{"web"});
  e.kind = EventKind::push;
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_event(to_json(e))));
}

TEST(EventTargetsTest, TargetsMustBeANonEmptyArrayOfNames) {
  const Event e = manual_event();
  const std::pair<json::value, std::string> cases[] = {
      {json::array{}, "field 'targets' is not a non-empty array"},
      {json::array{"web", ""}, "field 'targets' has an element that is not a non-empty string"},
      {json::array{"web", 1}, "field 'targets' has an element that is not a string"},
      {"web", "field 'targets' is not an array"},
  };
  for (const auto& [targets, reason] : cases) {
    json::object obj = json::parse(to_json(e)).as_object();
    obj["targets"] = targets;
    const auto parsed = parse_event(json::serialize(obj));
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << targets;
    EXPECT_EQ(std::get<std::string>(parsed), reason);
  }
}

// The contract's words are the enumerators' names, both ways; any other word is no enumerator.
TEST(EnumNamesTest, NamesAreTheContractWordsAndOtherWordsAreRefused) {
  EXPECT_EQ(enum_name(EventKind::merge), "merge");
  EXPECT_EQ(enum_name(EventProvider::gitopsd), "gitopsd");
  EXPECT_EQ(enum_from_name<EventKind>("poll"), EventKind::poll);
  EXPECT_EQ(enum_from_name<EventKind>("Poll"), std::nullopt);
  EXPECT_EQ(enum_from_name<EventKind>(""), std::nullopt);
  EXPECT_EQ(enum_from_name<EventKind>(std::string_view("pushed").substr(0, 4)), EventKind::push);
  EXPECT_EQ(enum_names<EventKind>(), "push, merge, poll or manual");
  std::ostringstream out;
  out << EventKind::manual;
  EXPECT_EQ(out.str(), "manual");
}

}  // namespace
}  // namespace gitopsd
