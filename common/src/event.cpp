#include "gitopsd/event.hpp"

#include <algorithm>

#include "gitopsd/config.hpp"
#include "json_fields.hpp"

namespace gitopsd {

using namespace json_fields;

namespace {

constexpr std::string_view kSchema = "gitopsd.event.v1";
// Additive: absent unless a manual sync names targets.
constexpr std::string_view kOptional[] = {"targets"};

}  // namespace

EventProvider event_provider(Provider provider) {
  switch (provider) {
    case Provider::github: return EventProvider::github;
    case Provider::gitlab: return EventProvider::gitlab;
    case Provider::gitea: return EventProvider::gitea;
  }
  return EventProvider::gitopsd;
}

std::string to_json(const Event& event) { return write_record(kSchema, event, kOptional); }

void tag_invoke(const json::value_from_tag&, json::value& out, const Event& event) {
  write_fields(out.emplace_object(), kSchema, event, kOptional);
}

std::variant<Event, std::string> parse_event(std::string_view text) {
  return read_record<Event>(text, kSchema, kOptional, [](const Event& e, Reader& r,
                                                         const json::object& obj) {
    r.check(is_uuid(e.event_id), "event_id", "is not a lowercase UUID");
    r.check(is_timestamp(e.received_at), "received_at", "is not an RFC 3339 UTC time with millis");
    r.check(!e.repository.empty(), "repository", "is empty");
    r.check(!e.branch.empty(), "branch", "is empty");
    r.check(is_commit(e.before), "before", "is not a 40-hex commit id");
    r.check(is_commit(e.after), "after", "is not a 40-hex commit id");
    r.check(e.merge_request.has_value() == (e.kind == EventKind::merge), "merge_request",
            "must be an object exactly when kind is merge");
    if (obj.contains("targets")) {
      r.check(e.kind == EventKind::manual, "targets", "is only allowed when kind is manual");
      r.check(!e.targets.empty(), "targets", "is not a non-empty array");
      r.check(std::ranges::none_of(e.targets, &std::string::empty), "targets",
              "has an element that is not a non-empty string");
    }
  });
}

}  // namespace gitopsd
