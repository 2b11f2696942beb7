#include "gitopsd/event.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <limits>

namespace gitopsd {
namespace json = boost::json;

namespace {

constexpr std::string_view kSchema = "gitopsd.event.v1";

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_commit(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), is_lower_hex);
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_lower_hex(s[i])) return false;
  }
  return true;
}

// "YYYY-MM-DDTHH:MM:SS.mmmZ", the one form format_timestamp produces.
bool is_timestamp(std::string_view s) {
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (kShape[i] == 'd' ? !is_digit(s[i]) : s[i] != kShape[i]) return false;
  }
  return true;
}

template <class Set>
bool one_of(std::string_view s, const Set& set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

constexpr std::array<std::string_view, 4> kProviders = {"github", "gitlab", "gitea", "gitopsd"};
constexpr std::array<std::string_view, 4> kKinds = {"push", "merge", "poll", "manual"};
constexpr std::array<std::string_view, 15> kFields = {
    "schema",     "event_id",  "provider",  "delivery_id", "received_at",
    "repository", "full_name", "clone_url", "branch",      "kind",
    "before",     "after",     "forced",    "sender",      "merge_request"};

// Reads fields of one object, remembering the first problem.
class Reader {
 public:
  Reader(const json::object& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

  std::string str(std::string_view key) {
    const json::value* v = get(key);
    if (v == nullptr) return {};
    if (v->is_string()) return std::string(v->get_string());
    fail(key, "is not a string");
    return {};
  }
  bool boolean(std::string_view key) {
    const json::value* v = get(key);
    if (v == nullptr) return false;
    if (v->is_bool()) return v->get_bool();
    fail(key, "is not a boolean");
    return false;
  }
  std::int64_t integer(std::string_view key) {
    const json::value* v = get(key);
    if (v == nullptr) return 0;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() &&
        v->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(v->get_uint64());
    }
    fail(key, "is not an integer");
    return 0;
  }
  // Checks a value already read; `what` completes "field 'x' ...".
  void check(bool ok, std::string_view key, std::string_view what) {
    if (!ok) fail(key, what);
  }
  void reject_unknown(const auto& known) {
    for (const auto& kv : obj_) {
      if (!one_of(kv.key(), known)) fail(kv.key(), "is not part of " + std::string(kSchema));
    }
  }
  const json::value* get(std::string_view key) {
    const json::value* v = obj_.if_contains(key);
    if (v == nullptr) fail(key, "missing");
    return v;
  }
  std::string& error() { return error_; }

 private:
  void fail(std::string_view key, std::string_view what) {
    if (error_.empty()) error_ = "field '" + prefix_ + std::string(key) + "' " + std::string(what);
  }

  const json::object& obj_;
  std::string prefix_;
  std::string error_;
};

}  // namespace

std::string to_json(const Event& event) {
  json::value merge_request = nullptr;
  if (event.merge_request) {
    const MergeRequest& mr = *event.merge_request;
    merge_request = json::object{
        {"number", mr.number}, {"title", mr.title}, {"url", mr.url}, {"author", mr.author}};
  }
  // json::object keeps insertion order: DESIGN.md's order.
  const json::object obj{{"schema", kSchema},
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
  return json::serialize(obj);
}

std::variant<Event, std::string> parse_event(std::string_view text) {
  boost::system::error_code ec;
  const json::value root = json::parse(text, ec);
  if (ec) return "not valid JSON: " + ec.message();
  if (!root.is_object()) return std::string("not a JSON object");

  Reader r(root.get_object(), "");
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
    Reader m(mr->get_object(), "merge_request.");
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
  return e;
}

}  // namespace gitopsd
