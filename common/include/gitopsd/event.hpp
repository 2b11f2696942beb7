// gitopsd.event.v1: the normalized webhook that travels on the events topic
// (schemas/event.v1.json). Field names are part of DESIGN.md's contract.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gitopsd {

struct MergeRequest {
  std::int64_t number = 0;
  std::string title;
  std::string url;
  std::string author;
};

struct Event {
  std::string event_id;     // UUID v4, assigned by the receiver
  std::string provider;     // github | gitlab | gitea | gitopsd (poll, manual)
  std::string delivery_id;  // the host's delivery id
  std::string received_at;  // RFC 3339 UTC with milliseconds
  std::string repository;   // configured repository name
  std::string full_name;    // the host's name for it
  std::string clone_url;
  std::string branch;
  std::string kind;    // push | merge | poll | manual
  std::string before;  // 40 hex, or 40 zeros for a new branch
  std::string after;   // 40 hex: the commit to converge to
  bool forced = false;
  std::string sender;
  std::optional<MergeRequest> merge_request;  // set for kind == merge
  // Optional, only for kind == manual (`gitopsctl sync --target`): the targets to reconcile.
  // Empty = every target of the repository. Serialized only when non-empty.
  std::vector<std::string> targets;
};

std::string to_json(const Event& event);

// Parses and checks a gitopsd.event.v1 value; on failure returns a reason.
std::variant<Event, std::string> parse_event(std::string_view json);

}  // namespace gitopsd
