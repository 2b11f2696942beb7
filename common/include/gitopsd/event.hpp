// gitopsd.event.v1: the normalized webhook that travels on the events topic
// (schemas/event.v1.json). Field names are part of DESIGN.md's contract.
#pragma once

#include <boost/describe/class.hpp>
#include <boost/json/fwd.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gitopsd/enum_names.hpp"

namespace gitopsd {

enum class Provider;  // config.hpp: the hosts a repository is configured for

// The event's "provider": the Git host that sent the webhook, or gitopsd itself (poll, manual).
enum class EventProvider { github, gitlab, gitea, gitopsd };
BOOST_DESCRIBE_ENUM(EventProvider, github, gitlab, gitea, gitopsd)
EventProvider event_provider(Provider provider);

enum class EventKind { push, merge, poll, manual };
BOOST_DESCRIBE_ENUM(EventKind, push, merge, poll, manual)

struct MergeRequest {
  std::int64_t number = 0;
  std::string title;
  std::string url;
  std::string author;
};

struct Event {
  std::string event_id;     // UUID v4, assigned by the receiver
  EventProvider provider = EventProvider::github;  // gitopsd for poll and manual
  std::string delivery_id;  // the host's delivery id
  std::string received_at;  // RFC 3339 UTC with milliseconds
  std::string repository;   // configured repository name
  std::string full_name;    // the host's name for it
  std::string clone_url;
  std::string branch;
  EventKind kind = EventKind::push;
  std::string before;  // 40 hex, or 40 zeros for a new branch
  std::string after;   // 40 hex: the commit to converge to
  bool forced = false;
  std::string sender;
  std::optional<MergeRequest> merge_request;  // set for kind == merge
  // Optional, only for kind == manual (`gitopsctl sync --target`): the targets to reconcile.
  // Empty = every target of the repository. Serialized only when non-empty.
  std::vector<std::string> targets;
};

// The JSON fields, in DESIGN.md's order.
BOOST_DESCRIBE_STRUCT(MergeRequest, (), (number, title, url, author))
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, provider, delivery_id, received_at, repository,
                                  full_name, clone_url, branch, kind, before, after, forced,
                                  sender, merge_request, targets))

std::string to_json(const Event& event);
// json::value_from(event): the same object as to_json's, for records that carry an event.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& json, const Event& event);

// Parses and checks a gitopsd.event.v1 value; on failure returns a reason.
std::variant<Event, std::string> parse_event(std::string_view json);

}  // namespace gitopsd
