// Deciding what to do with the events waiting for one repository, once its branch has been
// fetched: DESIGN.md worker rules 2 and 3 as a pure function (no git, no Kafka, no I/O).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gitopsd/config.hpp"
#include "gitopsd/event.hpp"

namespace gitopsd::worker {

// What a target runs, from the state topic (empty commit: never applied).
struct TargetState {
  std::string commit;
  std::string tree;  // subtree object id it was applied from
};

struct PlanInput {
  const Repository* repository = nullptr;
  std::vector<Event> events;  // waiting for this repository, oldest first
  std::string tip;            // the tracked branch as just fetched from the host
  // True when `commit` is `descendant` or one of its ancestors (the mirror's graph).
  std::function<bool(const std::string& commit, const std::string& descendant)> is_ancestor_or_same;
  // Object id of a target's subtree at `tip`; nullopt when the path is not in the commit.
  std::function<std::optional<std::string>(const std::string& path)> subtree_at_tip;
  std::map<std::string, TargetState> state;  // by target name
};

enum class EventVerdict {
  carrier,        // the newest event on the branch: its result reports the apply of `tip`
  superseded,     // an older event served by the carrier's apply
  not_on_branch,  // its commit is not reachable from the tip: forged, or history rewritten
};

enum class TargetAction {
  apply,      // subtree changed since the last apply (or never applied)
  unchanged,  // same subtree as what runs: nothing to do
  missing,    // the target's path does not exist at the tip: refused, dest left alone
};

struct TargetPlan {
  std::string target;
  TargetAction action = TargetAction::unchanged;
  std::string tree;       // subtree id at the tip (empty when missing)
  bool rollback = false;  // the tip is an ancestor of what runs: the branch was moved back
};

struct Plan {
  std::vector<EventVerdict> events;  // one per input event, same order
  std::vector<TargetPlan> targets;   // empty when no event is on the branch
};

Plan plan_repository(const PlanInput& input);

}  // namespace gitopsd::worker
