#include "gitopsd/receiver/normalize.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "gitopsd/crypto.hpp"
#include "payloads.hpp"
#include "schema_validator.hpp"

namespace gitopsd::receiver {
namespace {

namespace json = boost::json;
using test::kShaA;
using test::kShaB;
using test::kShaC;
using test::kZeroSha;

class NormalizeTest : public ::testing::Test {
 protected:
  static Repository repository(Provider provider, std::string match) {
    Repository r;
    r.name = "infra";
    r.provider = provider;
    r.match = std::move(match);
    r.branch = "main";
    return r;
  }

  static Normalized run(Provider provider, std::string_view event_type, std::string_view body,
                        std::string_view match) {
    const std::string_view pieces[] = {body};
    const PayloadScan scan =
        scan_payload(provider, event_type, pieces, normalize_fields(provider, event_type));
    EXPECT_EQ(scan.status, PayloadScan::Status::ok);
    return normalize(provider, event_type, scan, repository(provider, std::string(match)));
  }

  // The Event, after checking it is one and that, completed as the receiver completes it,
  // it is a valid gitopsd.event.v1 according to an independent validator.
  static Event event_of(const Normalized& n) {
    if (const auto* m = std::get_if<Malformed>(&n)) ADD_FAILURE() << "malformed: " << m->reason;
    if (const auto* i = std::get_if<Ignored>(&n)) ADD_FAILURE() << "ignored: " << i->reason;
    if (!std::holds_alternative<Event>(n)) return {};
    Event e = std::get<Event>(n);
    EXPECT_TRUE(e.event_id.empty());
    EXPECT_TRUE(e.received_at.empty());
    EXPECT_TRUE(e.delivery_id.empty());
    Event completed = e;
    completed.event_id = random_uuid();
    completed.received_at = format_timestamp(std::chrono::system_clock::now());
    completed.delivery_id = "d-1";
    EXPECT_TRUE(test::matches_schema(to_json(completed)));
    return e;
  }

  static std::string ignored(const Normalized& n) {
    const auto* i = std::get_if<Ignored>(&n);
    return i != nullptr ? i->reason : "(not ignored)";
  }
  static std::string malformed(const Normalized& n) {
    const auto* m = std::get_if<Malformed>(&n);
    return m != nullptr ? m->reason : "(not malformed)";
  }

  // A payload with the field at `path` replaced by `value`, or removed if `value` is absent.
  static std::string edit(std::string_view body, std::initializer_list<std::string_view> path,
                          std::optional<json::value> value) {
    json::value root = json::parse(body);
    json::object* obj = &root.as_object();
    auto it = path.begin();
    for (; std::next(it) != path.end(); ++it) obj = &obj->at(*it).as_object();
    if (value) {
      (*obj)[*it] = *value;
    } else {
      obj->erase(*it);
    }
    return json::serialize(root);
  }
};

// --- GitHub ---------------------------------------------------------------------------------

TEST_F(NormalizeTest, GithubPushToTrackedBranchIsPush) {
  const Event e =
      event_of(run(Provider::github, "push", test::github_push("acme/infra", "main", kShaA, kShaB),
                   "acme/infra"));
  EXPECT_EQ(e.provider, EventProvider::github);
  EXPECT_EQ(e.repository, "infra");
  EXPECT_EQ(e.full_name, "acme/infra");
  EXPECT_EQ(e.clone_url, "https://github.com/acme/infra.git");
  EXPECT_EQ(e.branch, "main");
  EXPECT_EQ(e.kind, EventKind::push);
  EXPECT_EQ(e.before, kShaA);
  EXPECT_EQ(e.after, kShaB);
  EXPECT_FALSE(e.forced);
  EXPECT_EQ(e.sender, "octocat");
  EXPECT_FALSE(e.merge_request);
}

TEST_F(NormalizeTest, GithubForcePushIsMarkedForced) {
  const Event e = event_of(
      run(Provider::github, "push",
          test::github_push("acme/infra", "main", kShaA, kShaB, {.forced = true}), "acme/infra"));
  EXPECT_TRUE(e.forced);
}

TEST_F(NormalizeTest, GithubNullForcedReadsAsFalse) {
  const std::string body =
      edit(test::github_push("acme/infra", "main", kShaA, kShaB), {"forced"}, json::value(nullptr));
  EXPECT_FALSE(event_of(run(Provider::github, "push", body, "acme/infra")).forced);
}

TEST_F(NormalizeTest, GithubPushCreatingBranchHasZeroBefore) {
  const Event e =
      event_of(run(Provider::github, "push",
                   test::github_push("acme/infra", "main", kZeroSha, kShaB), "acme/infra"));
  EXPECT_EQ(e.before, kZeroSha);
  EXPECT_EQ(e.after, kShaB);
}

TEST_F(NormalizeTest, CommitIdsAreLowercased) {
  std::string upper = kShaB;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const Event e =
      event_of(run(Provider::github, "push", test::github_push("acme/infra", "main", kShaA, upper),
                   "acme/infra"));
  EXPECT_EQ(e.after, kShaB);
}

TEST_F(NormalizeTest, GithubPushSenderFallsBackToPusher) {
  const std::string body =
      edit(test::github_push("acme/infra", "main", kShaA, kShaB, {.sender = "mona"}), {"sender"},
           std::nullopt);
  EXPECT_EQ(event_of(run(Provider::github, "push", body, "acme/infra")).sender, "mona");
}

TEST_F(NormalizeTest, GithubBranchDeletionIsIgnored) {
  EXPECT_EQ(ignored(run(Provider::github, "push",
                        test::github_push("acme/infra", "main", kShaA, kZeroSha, {.deleted = true}),
                        "acme/infra")),
            "branch deletion");
  // The all-zero `after` alone says the same.
  EXPECT_EQ(ignored(run(Provider::github, "push",
                        test::github_push("acme/infra", "main", kShaA, kZeroSha), "acme/infra")),
            "branch deletion");
}

TEST_F(NormalizeTest, GithubTagPushIsIgnored) {
  EXPECT_EQ(ignored(run(Provider::github, "push",
                        test::github_push("acme/infra", "main", kZeroSha, kShaB,
                                          {.ref = "refs/tags/v1.2.0"}),
                        "acme/infra")),
            "tag");
}

TEST_F(NormalizeTest, GithubPushToOtherBranchIsIgnored) {
  EXPECT_EQ(ignored(run(Provider::github, "push",
                        test::github_push("acme/infra", "feature/x", kShaA, kShaB), "acme/infra")),
            "branch feature/x is not tracked");
}

TEST_F(NormalizeTest, GithubPushToNonBranchRefIsIgnored) {
  EXPECT_EQ(ignored(run(Provider::github, "push",
                        test::github_push("acme/infra", "main", kShaA, kShaB,
                                          {.ref = "refs/notes/commits"}),
                        "acme/infra")),
            "ref refs/notes/commits is not a branch");
}

TEST_F(NormalizeTest, GithubPushWithMissingOrBadFieldsIsMalformed) {
  const std::string push = test::github_push("acme/infra", "main", kShaA, kShaB);
  EXPECT_EQ(
      malformed(run(Provider::github, "push", edit(push, {"after"}, std::nullopt), "acme/infra")),
      "field 'after' missing");
  EXPECT_EQ(malformed(run(Provider::github, "push",
                          edit(push, {"after"}, json::value(kShaB.substr(1))), "acme/infra")),
            "field 'after' is not a 40-hex commit id");
  EXPECT_EQ(
      malformed(run(Provider::github, "push",
                    edit(push, {"before"}, json::value("g" + kShaA.substr(1))), "acme/infra")),
      "field 'before' is not a 40-hex commit id");
  EXPECT_EQ(
      malformed(run(Provider::github, "push", edit(push, {"ref"}, json::value(7)), "acme/infra")),
      "field 'ref' is not a string");
  EXPECT_EQ(malformed(run(Provider::github, "push", edit(push, {"forced"}, json::value("yes")),
                          "acme/infra")),
            "field 'forced' is not a boolean");
  EXPECT_EQ(malformed(run(Provider::github, "push",
                          edit(push, {"repository", "clone_url"}, std::nullopt), "acme/infra")),
            "field 'repository.clone_url' missing");
}

TEST_F(NormalizeTest, GithubMergedPullRequestIsMerge) {
  const Event e = event_of(run(Provider::github, "pull_request",
                               test::github_pull_request_merged("acme/infra", "main", kShaA, kShaB),
                               "acme/infra"));
  EXPECT_EQ(e.kind, EventKind::merge);
  EXPECT_EQ(e.before, kShaA);
  EXPECT_EQ(e.after, kShaB);
  EXPECT_EQ(e.sender, "octocat");
  EXPECT_EQ(e.full_name, "acme/infra");
  EXPECT_EQ(e.clone_url, "https://github.com/acme/infra.git");
  ASSERT_TRUE(e.merge_request);
  EXPECT_EQ(e.merge_request->number, 42);
  EXPECT_EQ(e.merge_request->title, "Scale web to 4 replicas");
  EXPECT_EQ(e.merge_request->url, "https://github.com/acme/infra/pull/42");
  EXPECT_EQ(e.merge_request->author, "hubot");
}

TEST_F(NormalizeTest, GithubMergeSenderFallsBackToEventSender) {
  std::string body = test::github_pull_request_merged("acme/infra", "main", kShaA, kShaB);
  body = edit(body, {"pull_request", "merged_by"}, json::value(nullptr));
  body = edit(body, {"sender", "login"}, json::value("web-flow"));
  EXPECT_EQ(event_of(run(Provider::github, "pull_request", body, "acme/infra")).sender, "web-flow");
}

TEST_F(NormalizeTest, GithubPullRequestsThatAreNoMergeAreIgnored) {
  EXPECT_EQ(ignored(run(Provider::github, "pull_request",
                        test::github_pull_request("acme/infra", "main", kShaA, kShaB,
                                                  {.action = "opened", .merged = false}),
                        "acme/infra")),
            "pull request action opened is not a merge");
  EXPECT_EQ(ignored(run(Provider::github, "pull_request",
                        test::github_pull_request("acme/infra", "main", kShaA, kShaB,
                                                  {.action = "closed", .merged = false}),
                        "acme/infra")),
            "pull request closed without merge");
  EXPECT_EQ(ignored(run(Provider::github, "pull_request",
                        test::github_pull_request_merged("acme/infra", "release", kShaA, kShaB),
                        "acme/infra")),
            "branch release is not tracked");
}

TEST_F(NormalizeTest, GithubMergeWithoutMergeCommitIsMalformed) {
  const std::string body =
      edit(test::github_pull_request_merged("acme/infra", "main", kShaA, kShaB),
           {"pull_request", "merge_commit_sha"}, json::value(nullptr));
  EXPECT_EQ(malformed(run(Provider::github, "pull_request", body, "acme/infra")),
            "field 'pull_request.merge_commit_sha' missing");
}

// The scan keeps each field up to kMaxScannedValueBytes; a longer one is refused by name,
// never published cut. (No host allows a title that long.)
TEST_F(NormalizeTest, OverlongFieldIsMalformed) {
  const std::string base = test::github_pull_request_merged("acme/infra", "main", kShaA, kShaB);
  const std::string fits = edit(base, {"pull_request", "title"},
                                json::value(std::string(kMaxScannedValueBytes, 't')));
  EXPECT_EQ(event_of(run(Provider::github, "pull_request", fits, "acme/infra"))
                .merge_request->title.size(),
            kMaxScannedValueBytes);
  const std::string overlong = edit(base, {"pull_request", "title"},
                                    json::value(std::string(kMaxScannedValueBytes + 1, 't')));
  EXPECT_EQ(malformed(run(Provider::github, "pull_request", overlong, "acme/infra")),
            "field 'pull_request.title' is longer than 1024 bytes");
}

TEST_F(NormalizeTest, GithubPingAndOtherEventsAreIgnored) {
  EXPECT_EQ(ignored(run(Provider::github, "ping", test::github_ping("acme/infra"), "acme/infra")),
            "ping");
  EXPECT_EQ(ignored(run(Provider::github, "issues", test::github_ping("acme/infra"), "acme/infra")),
            "event issues is not applied");
}

// --- GitLab ---------------------------------------------------------------------------------

TEST_F(NormalizeTest, GitlabPushHookIsPush) {
  const Event e =
      event_of(run(Provider::gitlab, "Push Hook",
                   test::gitlab_push("acme/platform", "main", kShaA, kShaB, {.sender = "jsmith"}),
                   "acme/platform"));
  EXPECT_EQ(e.provider, EventProvider::gitlab);
  EXPECT_EQ(e.kind, EventKind::push);
  EXPECT_EQ(e.full_name, "acme/platform");
  EXPECT_EQ(e.clone_url, "https://gitlab.example.com/acme/platform.git");
  EXPECT_EQ(e.before, kShaA);
  EXPECT_EQ(e.after, kShaB);
  EXPECT_EQ(e.sender, "jsmith");
  EXPECT_FALSE(e.forced);
}

TEST_F(NormalizeTest, GitlabBranchDeletionTagAndOtherBranchAreIgnored) {
  EXPECT_EQ(
      ignored(run(Provider::gitlab, "Push Hook",
                  test::gitlab_push("acme/platform", "main", kShaA, kZeroSha), "acme/platform")),
      "branch deletion");
  EXPECT_EQ(ignored(run(Provider::gitlab, "Tag Push Hook",
                        test::gitlab_push("acme/platform", "main", kZeroSha, kShaB,
                                          {.ref = "refs/tags/v2.0.0"}),
                        "acme/platform")),
            "tag");
  EXPECT_EQ(
      ignored(run(Provider::gitlab, "Push Hook",
                  test::gitlab_push("acme/platform", "develop", kShaA, kShaB), "acme/platform")),
      "branch develop is not tracked");
  EXPECT_EQ(ignored(run(Provider::gitlab, "Note Hook",
                        test::gitlab_push("acme/platform", "main", kShaA, kShaB), "acme/platform")),
            "event Note Hook is not applied");
}

TEST_F(NormalizeTest, GitlabMergeRequestMergeIsMerge) {
  const Event e =
      event_of(run(Provider::gitlab, "Merge Request Hook",
                   test::gitlab_merge_request("acme/platform", "main", kShaB), "acme/platform"));
  EXPECT_EQ(e.kind, EventKind::merge);
  EXPECT_EQ(e.after, kShaB);
  EXPECT_EQ(e.before, kZeroSha);  // the hook does not name the target's previous tip
  EXPECT_EQ(e.sender, "jsmith");
  EXPECT_EQ(e.full_name, "acme/platform");
  EXPECT_EQ(e.clone_url, "https://gitlab.example.com/acme/platform.git");
  ASSERT_TRUE(e.merge_request);
  EXPECT_EQ(e.merge_request->number, 7);
  EXPECT_EQ(e.merge_request->title, "Bump nginx to 1.27");
  EXPECT_EQ(e.merge_request->url, "https://gitlab.example.com/acme/platform/-/merge_requests/7");
  EXPECT_EQ(e.merge_request->author, "jsmith");
}

TEST_F(NormalizeTest, GitlabFastForwardMergeUsesLastCommit) {
  const Event e =
      event_of(run(Provider::gitlab, "Merge Request Hook",
                   test::gitlab_merge_request("acme/platform", "main", kShaB,
                                              {.has_merge_commit = false, .last_commit = kShaC}),
                   "acme/platform"));
  EXPECT_EQ(e.after, kShaC);
}

TEST_F(NormalizeTest, GitlabMergeRequestWithoutAnyCommitIsMalformed) {
  std::string body =
      test::gitlab_merge_request("acme/platform", "main", kShaB, {.has_merge_commit = false});
  body = edit(body, {"object_attributes", "last_commit"}, std::nullopt);
  EXPECT_EQ(malformed(run(Provider::gitlab, "Merge Request Hook", body, "acme/platform")),
            "field 'object_attributes.merge_commit_sha' missing");
}

TEST_F(NormalizeTest, GitlabMergeRequestsThatAreNoMergeAreIgnored) {
  for (const char* action : {"open", "update", "close", "approved"}) {
    EXPECT_EQ(
        ignored(run(Provider::gitlab, "Merge Request Hook",
                    test::gitlab_merge_request("acme/platform", "main", kShaB, {.action = action}),
                    "acme/platform")),
        "merge request action " + std::string(action) + " is not a merge");
  }
  EXPECT_EQ(
      ignored(run(Provider::gitlab, "Merge Request Hook",
                  test::gitlab_merge_request("acme/platform", "stable", kShaB), "acme/platform")),
      "branch stable is not tracked");
}

// --- Gitea / Forgejo ------------------------------------------------------------------------

TEST_F(NormalizeTest, GiteaPushIsPush) {
  const Event e = event_of(
      run(Provider::gitea, "push",
          test::gitea_push("me/homelab", "main", kShaA, kShaB, {.sender = "gitea"}), "me/homelab"));
  EXPECT_EQ(e.provider, EventProvider::gitea);
  EXPECT_EQ(e.kind, EventKind::push);
  EXPECT_EQ(e.full_name, "me/homelab");
  EXPECT_EQ(e.clone_url, "https://gitea.example.com/me/homelab.git");
  EXPECT_EQ(e.before, kShaA);
  EXPECT_EQ(e.after, kShaB);
  EXPECT_EQ(e.sender, "gitea");
}

TEST_F(NormalizeTest, GiteaPushSenderFallsBackToPusher) {
  const std::string body =
      edit(test::gitea_push("me/homelab", "main", kShaA, kShaB, {.sender = "alice"}), {"sender"},
           std::nullopt);
  EXPECT_EQ(event_of(run(Provider::gitea, "push", body, "me/homelab")).sender, "alice");
}

TEST_F(NormalizeTest, GiteaDeletionTagAndOtherEventsAreIgnored) {
  EXPECT_EQ(ignored(run(Provider::gitea, "push",
                        test::gitea_push("me/homelab", "main", kShaA, kZeroSha), "me/homelab")),
            "branch deletion");
  EXPECT_EQ(
      ignored(run(Provider::gitea, "push",
                  test::gitea_push("me/homelab", "main", kZeroSha, kShaB, {.ref = "refs/tags/v1"}),
                  "me/homelab")),
      "tag");
  EXPECT_EQ(ignored(run(Provider::gitea, "create",
                        test::gitea_push("me/homelab", "main", kShaA, kShaB), "me/homelab")),
            "event create is not applied");
}

TEST_F(NormalizeTest, GiteaMergedPullRequestIsMerge) {
  const Event e =
      event_of(run(Provider::gitea, "pull_request",
                   test::gitea_pull_request("me/homelab", "main", kShaA, kShaB,
                                            {.number = 3, .author = "bob", .merged_by = "alice"}),
                   "me/homelab"));
  EXPECT_EQ(e.kind, EventKind::merge);
  EXPECT_EQ(e.before, kShaA);
  EXPECT_EQ(e.after, kShaB);
  EXPECT_EQ(e.sender, "alice");
  ASSERT_TRUE(e.merge_request);
  EXPECT_EQ(e.merge_request->number, 3);
  EXPECT_EQ(e.merge_request->url, "https://gitea.example.com/me/homelab/pulls/3");
  EXPECT_EQ(e.merge_request->author, "bob");
}

TEST_F(NormalizeTest, GiteaClosedUnmergedPullRequestIsIgnored) {
  EXPECT_EQ(
      ignored(run(Provider::gitea, "pull_request",
                  test::gitea_pull_request("me/homelab", "main", kShaA, kShaB, {.merged = false}),
                  "me/homelab")),
      "pull request closed without merge");
}

}  // namespace
}  // namespace gitopsd::receiver
