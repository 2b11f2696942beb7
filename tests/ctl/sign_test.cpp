#include "gitopsd/ctl/sign.hpp"

#include <gtest/gtest.h>

#include "payloads.hpp"
#include "gitopsd/receiver/webhook.hpp"

namespace gitopsd::ctl {
namespace {

using test::kShaA;
using test::kShaB;

std::string header(const Headers& headers, const std::string& name) {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return {};
}

// What the receiver decides about a request carrying `headers` and `body`.
receiver::Decision decide_signed(Provider provider, const std::string& path, const Headers& headers,
                                 const std::string& body, const std::string& secret) {
  Repository repository;
  repository.name = "infra";
  repository.provider = provider;
  repository.match = "acme/infra";
  repository.url = "https://example.com/acme/infra.git";
  repository.branch = "main";
  repository.secrets = {Secret{secret, "test"}};
  receiver::WebhookRequest request{
      .method = "POST",
      .target = path,
      .header = [&headers](std::string_view name) -> std::string_view {
        for (const auto& [n, v] : headers)
          if (std::equal(n.begin(), n.end(), name.begin(), name.end(),
                         [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
            return v;
        return {};
      },
      .body = body,
      .now = std::chrono::system_clock::now(),
  };
  return receiver::decide(request, {repository});
}

TEST(SignTest, GithubSignatureMatchesThePublishedVector) {
  auto headers = signed_headers(Provider::github, "It's a Secret to Everybody", "Hello, World!",
                                "", "d1", std::chrono::system_clock::now());
  EXPECT_EQ(header(headers, "X-Hub-Signature-256"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  EXPECT_EQ(header(headers, "X-GitHub-Event"), "push");
  EXPECT_EQ(header(headers, "X-GitHub-Delivery"), "d1");
}

TEST(SignTest, EachProvidersSignedPushIsAcceptedByTheReceiver) {
  struct Case {
    Provider provider;
    std::string path;
    std::string body;
    std::string secret;
  };
  const std::vector<Case> cases = {
      {Provider::github, "/hooks/github", test::github_push("acme/infra", "main", kShaA, kShaB), "s3cret"},
      {Provider::gitea, "/hooks/gitea", test::gitea_push("acme/infra", "main", kShaA, kShaB), "s3cret"},
      {Provider::gitlab, "/hooks/gitlab", test::gitlab_push("acme/infra", "main", kShaA, kShaB), "token"},
      {Provider::gitlab, "/hooks/gitlab", test::gitlab_push("acme/infra", "main", kShaA, kShaB),
       "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
  };
  for (const auto& c : cases) {
    auto headers = signed_headers(c.provider, c.secret, c.body, "", "", std::chrono::system_clock::now());
    auto decision = decide_signed(c.provider, c.path, headers, c.body, c.secret);
    EXPECT_TRUE(std::holds_alternative<receiver::Publish>(decision.action))
        << c.path << " " << c.secret << ": " << receiver::outcome_name(decision.outcome);
    auto wrong = decide_signed(c.provider, c.path, headers, c.body, c.secret + "x");
    EXPECT_EQ(wrong.outcome, receiver::Outcome::unauthorized) << c.path;
  }
}

TEST(SignTest, GeneratesADeliveryIdWhenNoneIsGiven) {
  auto a = signed_headers(Provider::gitea, "s", "{}", "", "", std::chrono::system_clock::now());
  auto b = signed_headers(Provider::gitea, "s", "{}", "", "", std::chrono::system_clock::now());
  EXPECT_FALSE(header(a, "X-Gitea-Delivery").empty());
  EXPECT_NE(header(a, "X-Gitea-Delivery"), header(b, "X-Gitea-Delivery"));
}

TEST(SignTest, RefusesASigningSecretThatIsNotBase64) {
  EXPECT_THROW(signed_headers(Provider::gitlab, "whsec_!!!", "{}", "", "", std::chrono::system_clock::now()),
               std::invalid_argument);
}

}  // namespace
}  // namespace gitopsd::ctl
