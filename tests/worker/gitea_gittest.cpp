// A real Gitea on loopback (deploy/gitea/gitea.sh): the API calls gitopsd's commit-status
// notifier makes work against it. Skips, saying so, where Gitea is not built.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "git_servers.hpp"

namespace gitopsd::test {
namespace {

namespace json = boost::json;

TEST(GiteaSmoke, CommitStatusRoundTrip) {
  GiteaServer gitea;
  if (gitea.skip_reason()) GTEST_SKIP() << *gitea.skip_reason();  // CI forbids it: GITOPSD_REQUIRE_GITEA

  const std::string full_name = gitea.create_repository("smoke", /*auto_init=*/true);
  const std::string repo = "/repos/" + full_name;
  auto branch = gitea.api("GET", repo + "/branches/main");
  ASSERT_EQ(branch.status, 200) << branch.body;
  const std::string sha(json::parse(branch.body).at("commit").at("id").as_string());
  ASSERT_EQ(sha.size(), 40u) << branch.body;

  const std::string status = R"({"state":"success","context":"gitopsd/web",)"
                             R"("description":"applied by gitopsd","target_url":"http://127.0.0.1/"})";
  // Without the token Gitea refuses the write: the token is what the notifier relies on.
  auto anonymous = http_request(gitea.port(), "POST", "/api/v1" + repo + "/statuses/" + sha,
                                {{"Content-Type", "application/json"}}, status);
  EXPECT_EQ(anonymous.status, 401) << anonymous.body;
  auto posted = gitea.api("POST", repo + "/statuses/" + sha, status);
  ASSERT_EQ(posted.status, 201) << posted.body;

  const auto statuses = gitea.commit_statuses(full_name, sha);
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].state, "success");
  EXPECT_EQ(statuses[0].context, "gitopsd/web");
  EXPECT_EQ(statuses[0].description, "applied by gitopsd");
  EXPECT_EQ(statuses[0].target_url, "http://127.0.0.1/");
}

}  // namespace
}  // namespace gitopsd::test
