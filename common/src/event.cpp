#include "gitopsd/event.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>

#include "json_fields.hpp"

namespace gitopsd {
namespace json = boost::json;

using namespace json_fields;

namespace {

constexpr std::string_view kSchema = "gitopsd.event.v1";

constexpr std::array<std::string_view, 4> kProviders = {"github", "gitlab", "gitea", "gitopsd"};
constexpr std::array<std::string_view, 4> kKinds = {"push", "merge", "poll", "manual"};
constexpr std::array<std::string_view, 16> kFields = {
    "schema",     "event_id",  "provider",  "delivery_id", "received_at",   "repository",
    "full_name",  "clone_url", "branch",    "kind",        "before",        "after",
    "forced",     "sender",    "merge_request", "targets"};

}  // namespace

std::string to_json(const Event& event) {
  json::value merge_request = nullptr;
  if (event.merge_request) {
    const MergeRequest& mr = *event.merge_request;
    merge_request = json::object{
        {"number", mr.number}, {"title", mr.title}, {"url", mr.url}, {"author", mr.author}};
  }
  // json::object keeps insertion order: DESIGN.md's order.
  json::object obj{{"schema", kSchema},
                         {"event_id", event.event_id},
                         {"provider", event.provider},
                         {"delivery_id", event.delivery_id},
                         {"received_at", event.received_at},
                         {"repository", event.repository},
                         {"full_name", event.full_name},
                         {"clone_url", event.clone_url},
                         {"branch", event.branch},
                         {"kind", event.kind},
                         {"before", event.before},
                         {"after", event.after},
                         {"forced", event.forced},
                         {"sender", event.sender},
                         {"merge_request", std::move(merge_request)}};
  // Optional and additive: absent unless a manual sync names targets.
  if (!event.targets.empty()) {
    json::array targets;
    for (const auto& t : event.targets) targets.emplace_back(t);
    obj["targets"] = std::move(targets);
  }
  return json::serialize(obj);
}

std::variant<Event, std::string> parse_event(std::string_view text) {
  boost::system::error_code ec;
  const json::value root = json::parse(text, ec);
  if (ec) return "not valid JSON: " + ec.message();
  if (!root.is_object()) return std::string("not a JSON object");

  Reader r(root.get_object(), "", kSchema);
  const std::string schema = r.str("schema");
  if (!r.error().empty()) return std::move(r.error());
  // Checked first: another schema's value is refused for that, not for its fields.
  if (schema != kSchema) return "schema is '" + schema + "', not " + std::string(kSchema);
  r.reject_unknown(kFields);

  Event e;
  e.event_id = r.str("event_id");
  e.provider = r.str("provider");
  e.delivery_id = r.str("delivery_id");
  e.received_at = r.str("received_at");
  e.repository = r.str("repository");
  e.full_name = r.str("full_name");
  e.clone_url = r.str("clone_url");
  e.branch = r.str("branch");
  e.kind = r.str("kind");
  e.before = r.str("before");
  e.after = r.str("after");
  e.forced = r.boolean("forced");
  e.sender = r.str("sender");
  if (!r.error().empty()) return std::move(r.error());

  r.check(is_uuid(e.event_id), "event_id", "is not a lowercase UUID");
  r.check(one_of(e.provider, kProviders), "provider", "is not github, gitlab, gitea or gitopsd");
  r.check(is_timestamp(e.received_at), "received_at", "is not an RFC 3339 UTC time with millis");
  r.check(!e.repository.empty(), "repository", "is empty");
  r.check(!e.branch.empty(), "branch", "is empty");
  r.check(one_of(e.kind, kKinds), "kind", "is not push, merge, poll or manual");
  r.check(is_commit(e.before), "before", "is not a 40-hex commit id");
  r.check(is_commit(e.after), "after", "is not a 40-hex commit id");
  if (!r.error().empty()) return std::move(r.error());

  const json::value* mr = r.get("merge_request");
  if (mr != nullptr && !mr->is_null()) {
    if (!mr->is_object()) return std::string("field 'merge_request' is not an object or null");
    Reader m(mr->get_object(), "merge_request.", kSchema);
    static constexpr std::array<std::string_view, 4> kMrFields = {"number", "title", "url",
                                                                  "author"};
    m.reject_unknown(kMrFields);
    MergeRequest out;
    out.number = m.integer("number");
    out.title = m.str("title");
    out.url = m.str("url");
    out.author = m.str("author");
    if (!m.error().empty()) return std::move(m.error());
    e.merge_request = std::move(out);
  }
  r.check(e.merge_request.has_value() == (e.kind == "merge"), "merge_request",
          "must be an object exactly when kind is merge");
  if (!r.error().empty()) return std::move(r.error());

  if (const json::value* targets = root.get_object().if_contains("targets")) {
    if (e.kind != "manual") return std::string("field 'targets' is only allowed when kind is manual");
    if (!targets->is_array() || targets->get_array().empty())
      return std::string("field 'targets' is not a non-empty array");
    for (const auto& t : targets->get_array()) {
      if (!t.is_string() || t.get_string().empty())
        return std::string("field 'targets' has an element that is not a non-empty string");
      e.targets.emplace_back(t.get_string());
    }
  }
  return e;
}

}  // namespace gitopsd
