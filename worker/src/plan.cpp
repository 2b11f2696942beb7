#include "gitopsd/worker/plan.hpp"

namespace gitopsd::worker {

Plan plan_repository(const PlanInput& input) {
  Plan plan;
  plan.events.reserve(input.events.size());
  std::optional<std::size_t> carrier;
  for (std::size_t i = 0; i < input.events.size(); ++i) {
    // Rule 2: converge to the tip just fetched; an event only vouches for a commit the host
    // itself has on the branch.
    if (input.events[i].after == input.tip ||
        input.is_ancestor_or_same(input.events[i].after, input.tip)) {
      plan.events.push_back(EventVerdict::superseded);
      carrier = i;
    } else {
      plan.events.push_back(EventVerdict::not_on_branch);
    }
  }
  if (!carrier) return plan;
  // Rule 3: one apply of the tip serves every waiting event; the newest carries the result.
  plan.events[*carrier] = EventVerdict::carrier;

  for (const Target& target : input.repository->targets) {
    TargetPlan t;
    t.target = target.name;
    auto tree = input.subtree_at_tip(target.path);
    if (!tree) {
      t.action = TargetAction::missing;
      plan.targets.push_back(std::move(t));
      continue;
    }
    t.tree = *tree;
    auto state = input.state.find(target.name);
    const bool applied_before = state != input.state.end() && !state->second.commit.empty();
    t.action = applied_before && state->second.tree == t.tree ? TargetAction::unchanged
                                                              : TargetAction::apply;
    // Moving to an ancestor of what runs happens only when the branch itself moved back.
    t.rollback = applied_before && state->second.commit != input.tip &&
                 input.is_ancestor_or_same(input.tip, state->second.commit);
    plan.targets.push_back(std::move(t));
  }
  return plan;
}

}  // namespace gitopsd::worker
