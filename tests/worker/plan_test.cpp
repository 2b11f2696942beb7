#include "gitopsd/worker/plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace gitopsd::worker {
namespace {

// A linear history c1 <- c2 <- c3 <- c4 on the branch, and x1 that is not on it.
class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repository_.name = "infra";
    repository_.targets.push_back(Target{.name = "web", .path = "web", .apply = FilesApply{"/srv/web", {}}});
    repository_.targets.push_back(Target{.name = "db", .path = "db", .apply = FilesApply{"/srv/db", {}}});
    input_.repository = &repository_;
    input_.tip = "c4";
    input_.is_ancestor_or_same = [this](const std::string& a, const std::string& b) {
      auto ia = std::find(history_.begin(), history_.end(), a);
      auto ib = std::find(history_.begin(), history_.end(), b);
      return ia != history_.end() && ib != history_.end() && ia <= ib;
    };
    input_.subtree_at_tip = [this](const std::string& path) -> std::optional<std::string> {
      auto it = trees_.find(path);
      if (it == trees_.end()) return std::nullopt;
      return it->second;
    };
  }

  static Event event(const std::string& after) {
    Event e;
    e.repository = "infra";
    e.after = after;
    return e;
  }

  std::vector<std::string> history_{"c1", "c2", "c3", "c4"};
  std::map<std::string, std::string> trees_{{"web", "tw4"}, {"db", "td4"}};
  Repository repository_;
  PlanInput input_;
};

TEST_F(PlanTest, NewestEventCarriesTheApplyAndOlderOnesAreSuperseded) {
  input_.events = {event("c2"), event("c3"), event("c4")};
  auto plan = plan_repository(input_);
  EXPECT_EQ(plan.events, (std::vector{EventVerdict::superseded, EventVerdict::superseded,
                                      EventVerdict::carrier}));
  ASSERT_EQ(plan.targets.size(), 2u);
  EXPECT_EQ(plan.targets[0].action, TargetAction::apply);
  EXPECT_EQ(plan.targets[0].tree, "tw4");
  EXPECT_FALSE(plan.targets[0].rollback);
}

TEST_F(PlanTest, EventNamingACommitNotOnTheBranchIsRefusedAndAppliesNothing) {
  input_.events = {event("x1")};
  auto plan = plan_repository(input_);
  EXPECT_EQ(plan.events, std::vector{EventVerdict::not_on_branch});
  EXPECT_TRUE(plan.targets.empty());
}

TEST_F(PlanTest, ForgedEventDoesNotBlockGenuineOnesBesideIt) {
  input_.events = {event("c3"), event("x1")};
  auto plan = plan_repository(input_);
  EXPECT_EQ(plan.events, (std::vector{EventVerdict::carrier, EventVerdict::not_on_branch}));
  EXPECT_EQ(plan.targets.size(), 2u);
}

TEST_F(PlanTest, TargetWhoseSubtreeDidNotChangeIsUnchanged) {
  input_.events = {event("c4")};
  input_.state = {{"web", {"c3", "tw4"}}, {"db", {"c3", "td3"}}};
  auto plan = plan_repository(input_);
  EXPECT_EQ(plan.targets[0].action, TargetAction::unchanged);
  EXPECT_EQ(plan.targets[1].action, TargetAction::apply);
}

TEST_F(PlanTest, OldEventAfterNewerOnesChangesNothing) {
  input_.events = {event("c2")};  // arrives late; targets already run the tip
  input_.state = {{"web", {"c4", "tw4"}}, {"db", {"c4", "td4"}}};
  auto plan = plan_repository(input_);
  EXPECT_EQ(plan.events, std::vector{EventVerdict::carrier});
  for (const auto& t : plan.targets) {
    EXPECT_EQ(t.action, TargetAction::unchanged) << t.target;
    EXPECT_FALSE(t.rollback);
  }
}

TEST_F(PlanTest, BranchResetToAnAncestorIsAppliedAsRollback) {
  input_.tip = "c2";  // force-pushed back from c4
  trees_ = {{"web", "tw2"}, {"db", "td4"}};
  input_.events = {event("c2")};
  input_.state = {{"web", {"c4", "tw4"}}, {"db", {"c4", "td4"}}};
  auto plan = plan_repository(input_);
  EXPECT_EQ(plan.targets[0].action, TargetAction::apply);
  EXPECT_TRUE(plan.targets[0].rollback);
  EXPECT_EQ(plan.targets[1].action, TargetAction::unchanged);
}

TEST_F(PlanTest, TargetPathAbsentAtTheTipIsMissingNotEmptied) {
  trees_.erase("db");
  input_.events = {event("c4")};
  auto plan = plan_repository(input_);
  EXPECT_EQ(plan.targets[1].action, TargetAction::missing);
  EXPECT_TRUE(plan.targets[1].tree.empty());
}

TEST_F(PlanTest, NeverAppliedTargetIsApplied) {
  input_.events = {event("c1")};
  input_.state = {{"web", {"", ""}}};
  auto plan = plan_repository(input_);
  EXPECT_EQ(plan.targets[0].action, TargetAction::apply);
  EXPECT_FALSE(plan.targets[0].rollback);
}

}  // namespace
}  // namespace gitopsd::worker
