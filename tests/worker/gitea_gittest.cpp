// A real Gitea on loopback (deploy/gitea/gitea.sh): the API calls gitopsd's commit-status
// notifier makes work against it. Skips, saying so, where Gitea is not built.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <iostream>

#include "git_servers.hpp"

namespace gitopsd::test {
namespace {

namespace json = boost::json;

TEST(GiteaSmoke, CommitStatusRoundTrip) {
  GiteaServer gitea;
  if (gitea.skip_reason()) {
    std::cerr << "*** GiteaSmoke SKIPPED: " << *gitea.skip_reason() << " ***\n";
    GTEST_SKIP() << *gitea.skip_reason();
  }

  auto created = gitea.api("POST", "/user/repos", R"({"name":"smoke","auto_init":true,"default_branch":"main"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string repo = "/repos/" + gitea.user() + "/smoke";

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

  auto read = gitea.api("GET", repo + "/commits/" + sha + "/statuses");
  ASSERT_EQ(read.status, 200) << read.body;
  const auto statuses = json::parse(read.body).as_array();
  ASSERT_EQ(statuses.size(), 1u) << read.body;
  // Gitea names the state "status" in what it answers.
  auto field = [&](const char* name) { return std::string(statuses[0].at(name).as_string()); };
  EXPECT_EQ(field("status"), "success") << read.body;
  EXPECT_EQ(field("context"), "gitopsd/web") << read.body;
  EXPECT_EQ(field("description"), "applied by gitopsd") << read.body;
}

}  // namespace
}  // namespace gitopsd::test
