#include "gitopsd/receiver/signature.hpp"

#include <gtest/gtest.h>

#include "payloads.hpp"

namespace gitopsd::receiver {
namespace {

using namespace std::chrono;

std::vector<Secret> secrets(std::initializer_list<std::string> values) {
  std::vector<Secret> out;
  for (const std::string& v : values) out.push_back(Secret{v, "test"});
  return out;
}

constexpr std::string_view kGithubSecret = "It's a Secret to Everybody";
constexpr std::string_view kGithubBody = "Hello, World!";
constexpr std::string_view kGithubSignature =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

// The Standard Webhooks specification's own example.
constexpr std::string_view kSpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kSpecId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::string_view kSpecTimestamp = "1614265330";
constexpr std::string_view kSpecBody = R"({"test": 2432232314})";
constexpr std::string_view kSpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const system_clock::time_point kSpecNow{seconds(1614265330)};

// Computed with Python's hmac module: key "gitopsd-test-signing-key-32bytes".
constexpr std::string_view kOwnSecret = "whsec_Z2l0b3BzZC10ZXN0LXNpZ25pbmcta2V5LTMyYnl0ZXM=";
constexpr std::string_view kOwnId = "msg_2Kx9gitopsd";
constexpr std::string_view kOwnTimestamp = "1763902800";
constexpr std::string_view kOwnBody = R"({"object_kind":"push"})";
constexpr std::string_view kOwnSignature = "v1,xL/wBIoQXSFrfoeJ3EKRIKL4m7feX96ujuj6xOscEE8=";
const system_clock::time_point kOwnNow{seconds(1763902800)};

TEST(SignatureTest, GithubAcceptsPublishedVector) {
  EXPECT_TRUE(verify_github(kGithubSignature, kGithubBody, secrets({std::string(kGithubSecret)})));
}

TEST(SignatureTest, GithubAcceptsSecondSecretDuringRotation) {
  EXPECT_TRUE(verify_github(kGithubSignature, kGithubBody,
                            secrets({"the-new-secret", std::string(kGithubSecret)})));
}

TEST(SignatureTest, GithubAcceptsUppercaseHex) {
  std::string upper(kGithubSignature);
  for (std::size_t i = 7; i < upper.size(); ++i)
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(verify_github(upper, kGithubBody, secrets({std::string(kGithubSecret)})));
}

TEST(SignatureTest, GithubRefusesWrongOrMissingSignatures) {
  const auto s = secrets({std::string(kGithubSecret)});
  EXPECT_FALSE(verify_github(kGithubSignature, "Hello, World?", s));
  EXPECT_FALSE(verify_github(kGithubSignature, kGithubBody, secrets({"another secret"})));
  EXPECT_FALSE(verify_github("", kGithubBody, s));
  EXPECT_FALSE(verify_github("sha256=", kGithubBody, s));
  EXPECT_FALSE(verify_github(kGithubSignature.substr(7), kGithubBody, s));  // no "sha256="
  EXPECT_FALSE(
      verify_github(kGithubSignature.substr(0, kGithubSignature.size() - 2), kGithubBody, s));
  EXPECT_FALSE(verify_github(std::string(kGithubSignature) + "00", kGithubBody, s));
  EXPECT_FALSE(verify_github("sha1=757107ea0eb2509fc211221cce984b8a37570b6d", kGithubBody, s));
  EXPECT_FALSE(verify_github(
      "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", kGithubBody, s));
  EXPECT_FALSE(verify_github(kGithubSignature, kGithubBody, {}));
}

TEST(SignatureTest, EmptySecretNeverVerifies) {
  const std::string body = "{}";
  EXPECT_FALSE(verify_github(test::github_signature("", body), body, secrets({""})));
  EXPECT_FALSE(verify_gitea(test::gitea_signature("", body), body, secrets({""})));
  EXPECT_FALSE(verify_gitlab_token("", secrets({""})));
}

TEST(SignatureTest, GiteaAcceptsHexHmacOfPayload) {
  const std::string body = R"({"ref":"refs/heads/main"})";
  const std::string sig = "6aab54046b413afedbc6d4ff0d3b4fd694c1af82c19c0be7ee9b80438b90223d";
  EXPECT_TRUE(verify_gitea(sig, body, secrets({"gitea-secret"})));
  EXPECT_TRUE(verify_gitea(sig, body, secrets({"old", "gitea-secret"})));
  EXPECT_FALSE(verify_gitea(sig, body, secrets({"old"})));
  EXPECT_FALSE(verify_gitea("sha256=" + sig, body, secrets({"gitea-secret"})));
  EXPECT_FALSE(verify_gitea(sig.substr(2), body, secrets({"gitea-secret"})));
  EXPECT_FALSE(verify_gitea("", body, secrets({"gitea-secret"})));
}

TEST(SignatureTest, GitlabTokenMustEqualASecret) {
  const auto s = secrets({"old-token", "new-token"});
  EXPECT_TRUE(verify_gitlab_token("new-token", s));
  EXPECT_TRUE(verify_gitlab_token("old-token", s));
  EXPECT_FALSE(verify_gitlab_token("new-token ", s));
  EXPECT_FALSE(verify_gitlab_token("new-toke", s));
  EXPECT_FALSE(verify_gitlab_token("NEW-TOKEN", s));
  EXPECT_FALSE(verify_gitlab_token("", s));
}

TEST(SignatureTest, GitlabTokenNeverMatchesSigningKey) {
  EXPECT_FALSE(verify_gitlab_token(kSpecSecret, secrets({std::string(kSpecSecret)})));
}

TEST(SignatureTest, StandardWebhookAcceptsSpecificationExample) {
  EXPECT_TRUE(verify_standard_webhook(kSpecId, kSpecTimestamp, kSpecSignature, kSpecBody,
                                      secrets({std::string(kSpecSecret)}), kSpecNow));
}

TEST(SignatureTest, StandardWebhookAcceptsIndependentlyComputedVector) {
  EXPECT_TRUE(verify_standard_webhook(kOwnId, kOwnTimestamp, kOwnSignature, kOwnBody,
                                      secrets({std::string(kOwnSecret)}), kOwnNow));
  // The test helper, used by other tests, agrees with it.
  EXPECT_EQ(test::standard_webhook_signature(kOwnSecret, kOwnId, kOwnTimestamp, kOwnBody),
            kOwnSignature);
}

TEST(SignatureTest, StandardWebhookAcceptsSecondSecretDuringRotation) {
  EXPECT_TRUE(verify_standard_webhook(
      kOwnId, kOwnTimestamp, kOwnSignature, kOwnBody,
      secrets({std::string(kSpecSecret), "plain-token", std::string(kOwnSecret)}), kOwnNow));
}

TEST(SignatureTest, StandardWebhookAcceptsAnyEntryOfTheList) {
  const std::string header =
      "v1a,bm90IGNoZWNrZWQ= v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " +
      std::string(kOwnSignature);
  EXPECT_TRUE(verify_standard_webhook(kOwnId, kOwnTimestamp, header, kOwnBody,
                                      secrets({std::string(kOwnSecret)}), kOwnNow));
}

TEST(SignatureTest, StandardWebhookRefusesWrongSignatures) {
  const auto s = secrets({std::string(kOwnSecret)});
  EXPECT_FALSE(verify_standard_webhook(kOwnId, kOwnTimestamp, kOwnSignature,
                                       R"({"object_kind":"tag_push"})", s, kOwnNow));
  EXPECT_FALSE(
      verify_standard_webhook("msg_other", kOwnTimestamp, kOwnSignature, kOwnBody, s, kOwnNow));
  EXPECT_FALSE(
      verify_standard_webhook(kOwnId, kOwnTimestamp, kSpecSignature, kOwnBody, s, kOwnNow));
  EXPECT_FALSE(verify_standard_webhook(kOwnId, kOwnTimestamp, "", kOwnBody, s, kOwnNow));
  EXPECT_FALSE(verify_standard_webhook(kOwnId, kOwnTimestamp, std::string(kOwnSignature).substr(3),
                                       kOwnBody, s, kOwnNow));  // no "v1,"
  EXPECT_FALSE(verify_standard_webhook("", kOwnTimestamp, kOwnSignature, kOwnBody, s, kOwnNow));
  // The same key without its "whsec_" prefix is a token, not a signing key.
  EXPECT_FALSE(verify_standard_webhook(kOwnId, kOwnTimestamp, kOwnSignature, kOwnBody,
                                       secrets({std::string(kOwnSecret.substr(6))}), kOwnNow));
  EXPECT_FALSE(verify_standard_webhook(kOwnId, kOwnTimestamp, kOwnSignature, kOwnBody,
                                       secrets({"whsec_not base64!"}), kOwnNow));
}

TEST(SignatureTest, StandardWebhookRefusesTimestampsOutsideTolerance) {
  const auto s = secrets({std::string(kOwnSecret)});
  for (const seconds skew : {-300s, 0s, 300s}) {
    EXPECT_TRUE(
        verify_standard_webhook(kOwnId, kOwnTimestamp, kOwnSignature, kOwnBody, s, kOwnNow + skew))
        << skew.count();
  }
  for (const seconds skew : {-301s, 301s, 86400s}) {
    EXPECT_FALSE(
        verify_standard_webhook(kOwnId, kOwnTimestamp, kOwnSignature, kOwnBody, s, kOwnNow + skew))
        << skew.count();
  }
  EXPECT_TRUE(verify_standard_webhook(kOwnId, kOwnTimestamp, kOwnSignature, kOwnBody, s,
                                      kOwnNow + 600s, 600s));
}

TEST(SignatureTest, TimestampFreshnessNeedsDecimalSeconds) {
  EXPECT_TRUE(standard_webhook_timestamp_fresh("1763902800", kOwnNow));
  EXPECT_TRUE(standard_webhook_timestamp_fresh("1763903100", kOwnNow));
  EXPECT_FALSE(standard_webhook_timestamp_fresh("1763903101", kOwnNow));
  EXPECT_FALSE(standard_webhook_timestamp_fresh("1763902800000", kOwnNow));  // milliseconds
  EXPECT_FALSE(standard_webhook_timestamp_fresh("", kOwnNow));
  EXPECT_FALSE(standard_webhook_timestamp_fresh("-1763902800", kOwnNow));
  EXPECT_FALSE(standard_webhook_timestamp_fresh("1763902800.5", kOwnNow));
  EXPECT_FALSE(standard_webhook_timestamp_fresh(" 1763902800", kOwnNow));
  EXPECT_FALSE(standard_webhook_timestamp_fresh("99999999999999999999", kOwnNow));
}

}  // namespace
}  // namespace gitopsd::receiver
