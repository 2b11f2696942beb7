#include "gitopsd/receiver/webhook.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "gitopsd/crypto.hpp"
#include "payloads.hpp"
#include "webhook_request.hpp"
#include "schema_validator.hpp"

namespace gitopsd::receiver {
namespace {

namespace json = boost::json;
using namespace std::chrono;
using test::Delivery;
using test::kShaA;
using test::kShaB;
using test::kZeroSha;

constexpr std::string_view kGithubSecret = "It's a Secret to Everybody";
constexpr std::string_view kGithubOldSecret = "last-quarters-secret";
constexpr std::string_view kStagingSecret = "staging-secret";
constexpr std::string_view kGitlabToken = "glpat-not-really-a-token";
constexpr std::string_view kGitlabSigningKey = "whsec_Z2l0b3BzZC10ZXN0LXNpZ25pbmcta2V5LTMyYnl0ZXM=";
constexpr std::string_view kGiteaSecret = "gitea-secret";
const system_clock::time_point kNow{seconds(1763902800)};

Repository repository(std::string name, Provider provider, std::string match, std::string branch,
                      std::initializer_list<std::string_view> secrets) {
  Repository r;
  r.name = std::move(name);
  r.provider = provider;
  r.match = std::move(match);
  r.branch = std::move(branch);
  for (const std::string_view s : secrets) r.secrets.push_back(Secret{std::string(s), "test"});
  return r;
}

class WebhookTest : public ::testing::Test {
 protected:
  std::vector<Repository> repositories_{
      repository("infra", Provider::github, "acme/infra", "main",
                 {kGithubOldSecret, kGithubSecret}),
      repository("infra-staging", Provider::github, "acme/infra", "staging", {kStagingSecret}),
      repository("platform", Provider::gitlab, "acme/platform", "main",
                 {kGitlabToken, kGitlabSigningKey}),
      repository("homelab", Provider::gitea, "me/homelab", "main", {kGiteaSecret}),
  };

  // What the server hands decide(): `d` must outlive it.
  static WebhookRequest request_of(const Delivery& d, std::string_view method = "POST",
                                   system_clock::time_point now = kNow) {
    return test::request_of(d, method, now);
  }

  Decision send(const Delivery& d, std::string_view method = "POST",
                system_clock::time_point now = kNow) const {
    return decide(request_of(d, method, now), repositories_);
  }

  static Delivery with_header(Delivery d, std::string_view name, std::string value) {
    for (auto& [k, v] : d.headers) {
      if (k == name) {
        v = std::move(value);
        return d;
      }
    }
    d.headers.emplace_back(name, std::move(value));
    return d;
  }
  static Delivery without_header(Delivery d, std::string_view name) {
    std::erase_if(d.headers, [&](const auto& kv) { return kv.first == name; });
    return d;
  }
  static Delivery at(Delivery d, std::string path) {
    d.path = std::move(path);
    return d;
  }

  static Delivery github_push(std::string_view branch = "main",
                              std::string_view secret = kGithubSecret) {
    return test::github_delivery("push", test::github_push("acme/infra", branch, kShaA, kShaB),
                                 secret);
  }
};

// The reply, checking that it is one and that its status is `status`.
Reply reply_of(const Decision& d, int status) {
  const auto* reply = std::get_if<Reply>(&d.action);
  if (reply == nullptr) {
    ADD_FAILURE() << "expected a " << status << " reply, got Publish";
    return {};
  }
  EXPECT_EQ(reply->status, status) << reply->body;
  return *reply;
}

std::string error_of(const Decision& d, int status) {
  const Reply r = reply_of(d, status);
  const json::value v = json::parse(r.body);
  EXPECT_EQ(v.as_object().size(), 1u) << r.body;
  return std::string(v.at("error").as_string());
}

std::string ignored_reason(const Decision& d) {
  const Reply r = reply_of(d, 200);
  const json::value v = json::parse(r.body);
  EXPECT_EQ(v.at("status"), "ignored") << r.body;
  EXPECT_EQ(d.outcome, Outcome::ignored);
  return std::string(v.at("reason").as_string());
}

// The event to publish, completed as the server completes it and checked against the schema.
Event published(const Decision& d) {
  const auto* publish = std::get_if<Publish>(&d.action);
  if (publish == nullptr) {
    ADD_FAILURE() << "expected Publish, got " << std::get<Reply>(d.action).status << " "
                  << std::get<Reply>(d.action).body;
    return {};
  }
  EXPECT_EQ(d.outcome, Outcome::queued);
  EXPECT_EQ(publish->event_type, d.event_type);
  EXPECT_EQ(d.provider, publish->provider);
  EXPECT_EQ(publish->event.provider, event_provider(publish->provider));
  EXPECT_EQ(publish->event.delivery_id, d.delivery_id);
  EXPECT_EQ(publish->event.repository, d.repository);
  EXPECT_TRUE(publish->event.event_id.empty());
  EXPECT_TRUE(publish->event.received_at.empty());
  Event completed = publish->event;
  completed.event_id = random_uuid();
  completed.received_at = format_timestamp(kNow);
  EXPECT_TRUE(test::matches_schema(to_json(completed)));
  return publish->event;
}

// --- routing ----------------------------------------------------------------------------------

TEST_F(WebhookTest, UnknownPathIsNotFound) {
  for (const char* path : {"/", "/hooks/", "/hooks/bitbucket", "/hooksgithub", "/hooks/github/x",
                           "/Hooks/github", "/metrics"}) {
    const Decision d = send(at(github_push(), path));
    EXPECT_EQ(error_of(d, 404), "no such endpoint") << path;
    EXPECT_EQ(d.outcome, Outcome::not_found);
  }
  EXPECT_EQ(error_of(send(at(github_push(), "/metrics"), "GET"), 404), "no such endpoint");
}

TEST_F(WebhookTest, QueryStringIsIgnored) {
  published(send(at(github_push(), "/hooks/github?source=ci&x=1")));
  published(send(at(github_push(), "/hooks?")));
}

TEST_F(WebhookTest, OtherMethodsAreNotAllowed) {
  for (const char* method : {"GET", "PUT", "HEAD", "post"}) {
    const Decision d = send(github_push(), method);
    const Reply r = reply_of(d, 405);
    EXPECT_EQ(r.allow, "POST");
    EXPECT_TRUE(json::parse(r.body).as_object().contains("error"));
    EXPECT_EQ(d.outcome, Outcome::method_not_allowed);
  }
  EXPECT_EQ(reply_of(send(at(github_push(), "/hooks"), "GET"), 405).allow, "POST");
}

TEST_F(WebhookTest, ProviderPathNeedsItsEventHeader) {
  const Decision d = send(without_header(github_push(), "X-GitHub-Event"));
  EXPECT_EQ(error_of(d, 400), "X-GitHub-Event header missing");
  EXPECT_EQ(d.outcome, Outcome::bad_request);
  EXPECT_EQ(d.provider, Provider::github);
  // A GitLab delivery sent to the GitHub path has no GitHub event header either.
  EXPECT_EQ(
      error_of(send(at(test::gitlab_delivery("Push Hook", "{}", kGitlabToken), "/hooks/github")),
               400),
      "X-GitHub-Event header missing");
}

TEST_F(WebhookTest, GenericPathNeedsSomeEventHeader) {
  Delivery d = at(github_push(), "/hooks");
  d = without_header(std::move(d), "X-GitHub-Event");
  const Decision decision = send(d);
  EXPECT_EQ(error_of(decision, 400), "no X-Gitea-Event, X-Gitlab-Event or X-GitHub-Event header");
  EXPECT_EQ(decision.provider, std::nullopt);
}

TEST_F(WebhookTest, GenericPathDetectsEachProvider) {
  EXPECT_EQ(send(at(github_push(), "/hooks")).provider, Provider::github);
  published(send(at(github_push(), "/hooks")));

  const Decision gitlab = send(
      at(test::gitlab_delivery(
             "Push Hook", test::gitlab_push("acme/platform", "main", kShaA, kShaB), kGitlabToken),
         "/hooks"));
  EXPECT_EQ(gitlab.provider, Provider::gitlab);
  published(gitlab);
}

TEST_F(WebhookTest, GenericPathTakesGiteaForGiteaEvenWithGithubHeaders) {
  const Delivery d =
      at(test::gitea_delivery("push", test::gitea_push("me/homelab", "main", kShaA, kShaB),
                              kGiteaSecret),
         "/hooks");
  ASSERT_FALSE(std::find_if(d.headers.begin(), d.headers.end(), [](const auto& kv) {
                 return kv.first == "X-GitHub-Event";
               }) == d.headers.end());
  const Decision decision = send(d);
  EXPECT_EQ(decision.provider, Provider::gitea);
  EXPECT_EQ(published(decision).repository, "homelab");
}

TEST_F(WebhookTest, HeadChecksRefuseBeforeAnyBodyAsDecideDoes) {
  const std::vector<std::pair<Delivery, std::string_view>> refused{
      {at(github_push(), "/metrics"), "POST"},
      {github_push(), "GET"},
      {without_header(at(github_push(), "/hooks"), "X-GitHub-Event"), "POST"},
      {without_header(github_push(), "X-GitHub-Event"), "POST"},
      {with_header(github_push(), "Content-Type", "text/plain"), "POST"},
  };
  for (const auto& [delivery, method] : refused) {
    Delivery head_only = delivery;
    head_only.body.clear();
    const std::optional<Decision> early = decide_head(request_of(head_only, method));
    ASSERT_TRUE(early) << delivery.path << " " << method;
    const Decision full = send(delivery, method);
    const Reply early_reply = std::get<Reply>(early->action);
    const Reply full_reply = std::get<Reply>(full.action);
    EXPECT_EQ(early_reply.status, full_reply.status);
    EXPECT_EQ(early_reply.body, full_reply.body);
    EXPECT_EQ(early_reply.allow, full_reply.allow);
    EXPECT_EQ(early->outcome, full.outcome);
    EXPECT_EQ(early->provider, full.provider);
    EXPECT_EQ(early->reason, full.reason);
  }
  EXPECT_EQ(std::get<Reply>(decide_head(request_of(github_push(), "GET"))->action).status, 405);
}

TEST_F(WebhookTest, HeadChecksPassWhatNeedsTheBody) {
  Delivery d = github_push();
  d.body.clear();  // not looked at
  EXPECT_FALSE(decide_head(request_of(d)));
  EXPECT_FALSE(decide_head(request_of(test::github_form_delivery("push", "{}", kGithubSecret))));
  EXPECT_FALSE(decide_head(request_of(test::gitlab_delivery("Push Hook", "", kGitlabToken))));
  EXPECT_FALSE(decide_head(request_of(at(test::gitea_delivery("push", "", kGiteaSecret), "/hooks"))));
}

// --- content ----------------------------------------------------------------------------------

TEST_F(WebhookTest, UnsupportedContentTypeIs415) {
  for (const char* type : {"text/plain", "application/xml", "", "application/jsonx",
                           "multipart/form-data; boundary=x"}) {
    const Decision d = send(with_header(github_push(), "Content-Type", type));
    EXPECT_EQ(reply_of(d, 415).status, 415) << type;
    EXPECT_EQ(d.outcome, Outcome::unsupported_media_type);
  }
  // Only GitHub sends form bodies.
  const Delivery gitlab_form = with_header(
      test::gitlab_delivery("Push Hook", test::gitlab_push("acme/platform", "main", kShaA, kShaB),
                            kGitlabToken),
      "Content-Type", "application/x-www-form-urlencoded");
  EXPECT_EQ(error_of(send(gitlab_form), 415), "content type must be application/json");
}

TEST_F(WebhookTest, MediaTypeIsCaseInsensitiveAndMayHaveParameters) {
  published(send(with_header(github_push(), "Content-Type", "Application/JSON; charset=utf-8")));
}

TEST_F(WebhookTest, FormEncodedGithubBodyIsDecoded) {
  const std::string json_text = test::github_push("acme/infra", "main", kShaA, kShaB);
  const Delivery d = test::github_form_delivery("push", json_text, kGithubSecret);
  ASSERT_TRUE(d.body.starts_with("payload=%7B%22ref%22"));
  const Event e = published(send(d));
  EXPECT_EQ(e.after, kShaB);
  EXPECT_EQ(e.sender, "octocat");
}

TEST_F(WebhookTest, FormBodySignatureCoversTheRawBody) {
  const std::string json_text = test::github_push("acme/infra", "main", kShaA, kShaB);
  Delivery d = test::github_form_delivery("push", json_text, kGithubSecret);
  d = with_header(std::move(d), "X-Hub-Signature-256",
                  test::github_signature(kGithubSecret, json_text));
  EXPECT_EQ(error_of(send(d), 401), "signature does not match");
}

TEST_F(WebhookTest, FormBodyWithoutPayloadIsBadRequest) {
  for (const char* body : {"ref=refs%2Fheads%2Fmain", "payload=%7", "payload=%zz"}) {
    Delivery d = test::github_form_delivery("push", "{}", kGithubSecret);
    d.body = body;
    EXPECT_EQ(error_of(send(d), 400), "form body has no valid payload field") << body;
  }
}

TEST_F(WebhookTest, FormPayloadLongerThanOneDecodedPieceIsScannedAndParsed) {
  json::value payload = json::parse(test::github_push("acme/infra", "main", kShaA, kShaB));
  // Padding first, so the fields the scan looks for come after several decoded pieces.
  json::object padded{{"padding", std::string(20000, '%')}};
  for (const auto& kv : payload.as_object()) padded[kv.key()] = kv.value();
  const Event e = published(
      send(test::github_form_delivery("push", json::serialize(padded), kGithubSecret)));
  EXPECT_EQ(e.after, kShaB);
  EXPECT_EQ(e.full_name, "acme/infra");
}

TEST_F(WebhookTest, FormPayloadThatIsNotJsonIsBadRequest) {
  EXPECT_EQ(error_of(send(test::github_form_delivery("push", "{\"a\":", kGithubSecret)), 400),
            "body is not valid JSON");
  EXPECT_EQ(error_of(send(test::github_form_delivery("push", "[1]", kGithubSecret)), 400),
            "body is not a JSON object");
}

TEST_F(WebhookTest, InvalidJsonIsBadRequest) {
  for (const char* body : {"", "{", "not json", R"({"a":1}{)", "{\"ref\":\"\xff\"}"}) {
    const Decision d = send(test::github_delivery("push", body, kGithubSecret));
    EXPECT_EQ(error_of(d, 400), "body is not valid JSON") << body;
    EXPECT_EQ(d.outcome, Outcome::bad_request);
  }
}

TEST_F(WebhookTest, DeeplyNestedJsonIsRefused) {
  const std::string deep = R"({"repository":{"full_name":"acme/infra"},"x":)" +
                           std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(error_of(send(test::github_delivery("push", deep, kGithubSecret)), 400),
            "body is not valid JSON");
}

TEST_F(WebhookTest, NonObjectJsonIsBadRequest) {
  EXPECT_EQ(error_of(send(test::github_delivery("push", "[1,2]", kGithubSecret)), 400),
            "body is not a JSON object");
}

TEST_F(WebhookTest, PayloadWithoutRepositoryIsBadRequest) {
  EXPECT_EQ(
      error_of(send(test::github_delivery("push", R"({"ref":"refs/heads/main"})", kGithubSecret)),
               400),
      "payload names no repository");
  // GitLab names its project elsewhere: a GitHub-shaped body names none.
  EXPECT_EQ(error_of(send(test::gitlab_delivery(
                         "Push Hook", test::github_push("acme/platform", "main", kShaA, kShaB),
                         kGitlabToken)),
                     400),
            "payload names no repository");
}

// --- which repository, and is it genuine ---------------------------------------------------------

TEST_F(WebhookTest, UnconfiguredRepositoryIsUnauthorized) {
  const Decision d = send(test::github_delivery(
      "push", test::github_push("evil/infra", "main", kShaA, kShaB), kGithubSecret));
  EXPECT_EQ(error_of(d, 401), "repository not configured");
  EXPECT_EQ(d.outcome, Outcome::unauthorized);
  EXPECT_EQ(d.repository, "");
  // Configured, but for another host.
  EXPECT_EQ(
      error_of(send(test::gitea_delivery(
                   "push", test::gitea_push("acme/infra", "main", kShaA, kShaB), kGithubSecret)),
               401),
      "repository not configured");
}

TEST_F(WebhookTest, GithubRepositoryNamesMatchCaseInsensitively) {
  const Delivery d = test::github_delivery(
      "push", test::github_push("ACME/Infra", "main", kShaA, kShaB), kGithubSecret);
  const Event e = published(send(d));
  EXPECT_EQ(e.repository, "infra");
  EXPECT_EQ(e.full_name, "ACME/Infra");
}

TEST_F(WebhookTest, OverlongRepositoryNameIsNotConfigured) {
  const std::string name = "acme/" + std::string(2 * 1024 * 1024, 'x');
  EXPECT_EQ(error_of(send(test::github_delivery(
                         "push", test::github_push(name, "main", kShaA, kShaB), kGithubSecret)),
                     401),
            "repository not configured");
}

TEST_F(WebhookTest, UnsignedLargeBodyIsRefusedAfterTheScan) {
  std::string body = R"({"repository":{"full_name":"acme/infra"},"x":[{})";
  for (int i = 0; i < 500000; ++i) body += ",{}";
  body += "]}";
  EXPECT_EQ(error_of(send(test::github_delivery("push", body, "guessed")), 401),
            "signature does not match");
  // Genuine, the same body is parsed and answered on its merits.
  EXPECT_EQ(error_of(send(test::github_delivery("push", body, kGithubSecret)), 400),
            "field 'ref' missing");
}

TEST_F(WebhookTest, MissingSignatureIsUnauthorized) {
  const Decision d = send(without_header(github_push(), "X-Hub-Signature-256"));
  EXPECT_EQ(error_of(d, 401), "signature missing");
  EXPECT_EQ(d.outcome, Outcome::unauthorized);
  EXPECT_EQ(d.repository, "infra");
}

TEST_F(WebhookTest, WrongSignatureIsUnauthorizedWithoutEchoingSecrets) {
  const Delivery d = github_push("main", "guessed");
  const Decision decision = send(d);
  EXPECT_EQ(error_of(decision, 401), "signature does not match");
  const std::string body = std::get<Reply>(decision.action).body;
  EXPECT_EQ(body.find(kGithubSecret), std::string::npos);
  EXPECT_EQ(body.find(test::github_signature("guessed", d.body).substr(7)), std::string::npos);
}

TEST_F(WebhookTest, TamperedBodyIsUnauthorized) {
  Delivery d = github_push();
  d.body = test::github_push("acme/infra", "main", kShaA, test::kShaC);
  EXPECT_EQ(error_of(send(d), 401), "signature does not match");
}

TEST_F(WebhookTest, PreviousSecretStillVerifiesDuringRotation) {
  published(send(github_push("main", kGithubOldSecret)));
}

TEST_F(WebhookTest, BranchChoosesAmongRepositoriesOfOneHostRepository) {
  const Event e = published(send(github_push("staging", kStagingSecret)));
  EXPECT_EQ(e.repository, "infra-staging");
  EXPECT_EQ(e.branch, "staging");
  // Each branch's entry verifies with its own secrets only.
  EXPECT_EQ(error_of(send(github_push("staging", kGithubSecret)), 401), "signature does not match");
  EXPECT_EQ(error_of(send(github_push("main", kStagingSecret)), 401), "signature does not match");
}

TEST_F(WebhookTest, UntrackedBranchIsIgnoredOnlyWhenGenuine) {
  const Decision d = send(github_push("feature/x", kStagingSecret));
  EXPECT_EQ(ignored_reason(d), "branch feature/x is not tracked");
  EXPECT_EQ(d.repository, "");  // two configured entries could own it
  EXPECT_EQ(ignored_reason(send(github_push("feature/x", kGithubSecret))),
            "branch feature/x is not tracked");
  EXPECT_EQ(error_of(send(github_push("feature/x", "forged")), 401), "signature does not match");
}

TEST_F(WebhookTest, OverlongUntrackedBranchIsIgnoredWithItsNameCut) {
  const std::string branch(4096, 'b');
  const std::string reason = ignored_reason(send(github_push(branch, kGithubSecret)));
  EXPECT_TRUE(reason.starts_with("branch bbbb")) << reason.substr(0, 40);
  EXPECT_TRUE(reason.ends_with("\u2026 is not tracked"));
  EXPECT_LT(reason.size(), 1100u);
  EXPECT_EQ(error_of(send(github_push(branch, "forged")), 401), "signature does not match");
}

// Found by fuzz_decide (fuzz/corpus/decide/regression-delivery-id-not-utf8): GitHub signs only
// the body, so a captured delivery replayed with bytes that are not UTF-8 in X-GitHub-Delivery
// was published as an event no worker could parse (the JSON was invalid).
TEST_F(WebhookTest, DeliveryIdThatIsNotPrintableAsciiIsBadRequest) {
  for (const std::string& id : {std::string("72\xf2\xff\xff\xff" "2e"), std::string("a b"),
                                std::string("a\x01"), std::string("caf\xc3\xa9")}) {
    EXPECT_EQ(error_of(send(with_header(github_push(), "X-GitHub-Delivery", id)), 400),
              "delivery id header is not printable ASCII")
        << id;
  }
}

TEST_F(WebhookTest, MissingDeliveryIdIsBadRequest) {
  const Decision d = send(without_header(github_push(), "X-GitHub-Delivery"));
  EXPECT_EQ(error_of(d, 400), "delivery id header missing");
  // Only after verification: a forged request learns nothing about its headers.
  EXPECT_EQ(error_of(send(without_header(github_push("main", "forged"), "X-GitHub-Delivery")), 401),
            "signature does not match");
}

// --- GitHub -------------------------------------------------------------------------------------

TEST_F(WebhookTest, GithubPushIsPublished) {
  const Decision d = send(github_push());
  const Event e = published(d);
  EXPECT_EQ(d.provider, Provider::github);
  EXPECT_EQ(d.event_type, "push");
  EXPECT_EQ(d.delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(d.repository, "infra");
  EXPECT_EQ(std::get<Publish>(d.action).provider, Provider::github);
  EXPECT_EQ(e.provider, EventProvider::github);
  EXPECT_EQ(e.delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(e.repository, "infra");
  EXPECT_EQ(e.full_name, "acme/infra");
  EXPECT_EQ(e.clone_url, "https://github.com/acme/infra.git");
  EXPECT_EQ(e.branch, "main");
  EXPECT_EQ(e.kind, EventKind::push);
  EXPECT_EQ(e.before, kShaA);
  EXPECT_EQ(e.after, kShaB);
  EXPECT_EQ(e.sender, "octocat");
}

TEST_F(WebhookTest, GithubMergedPullRequestIsPublished) {
  const Decision d = send(test::github_delivery(
      "pull_request", test::github_pull_request_merged("acme/infra", "main", kShaA, kShaB),
      kGithubSecret));
  const Event e = published(d);
  EXPECT_EQ(d.event_type, "pull_request");
  EXPECT_EQ(e.kind, EventKind::merge);
  EXPECT_EQ(e.after, kShaB);
  ASSERT_TRUE(e.merge_request);
  EXPECT_EQ(e.merge_request->number, 42);
}

TEST_F(WebhookTest, GithubIgnoredEvents) {
  EXPECT_EQ(ignored_reason(send(
                test::github_delivery("ping", test::github_ping("acme/infra"), kGithubSecret))),
            "ping");
  EXPECT_EQ(
      ignored_reason(send(test::github_delivery(
          "push", test::github_push("acme/infra", "main", kZeroSha, kShaB, {.ref = "refs/tags/v1"}),
          kGithubSecret))),
      "tag");
  EXPECT_EQ(ignored_reason(send(test::github_delivery(
                "push", test::github_push("acme/infra", "main", kShaA, kZeroSha, {.deleted = true}),
                kGithubSecret))),
            "branch deletion");
  EXPECT_EQ(ignored_reason(send(test::github_delivery(
                "pull_request",
                test::github_pull_request("acme/infra", "main", kShaA, kShaB,
                                          {.action = "opened", .merged = false}),
                kGithubSecret))),
            "pull request action opened is not a merge");
  EXPECT_EQ(ignored_reason(send(
                test::github_delivery("star", test::github_ping("acme/infra"), kGithubSecret))),
            "event star is not applied");
}

TEST_F(WebhookTest, GithubPingIsVerifiedToo) {
  EXPECT_EQ(
      error_of(send(test::github_delivery("ping", test::github_ping("acme/infra"), "forged")), 401),
      "signature does not match");
}

TEST_F(WebhookTest, MalformedEventIsBadRequestNamingTheField) {
  json::value payload = json::parse(test::github_push("acme/infra", "main", kShaA, kShaB));
  payload.as_object().erase("after");
  const Decision d = send(test::github_delivery("push", json::serialize(payload), kGithubSecret));
  EXPECT_EQ(error_of(d, 400), "field 'after' missing");
  EXPECT_EQ(d.outcome, Outcome::bad_request);
}

// --- GitLab -------------------------------------------------------------------------------------

TEST_F(WebhookTest, GitlabPushWithTokenIsPublished) {
  const Decision d = send(test::gitlab_delivery(
      "Push Hook", test::gitlab_push("acme/platform", "main", kShaA, kShaB, {.sender = "jsmith"}),
      kGitlabToken, "idem-1"));
  const Event e = published(d);
  EXPECT_EQ(d.provider, Provider::gitlab);
  EXPECT_EQ(d.event_type, "Push Hook");
  EXPECT_EQ(e.delivery_id, "idem-1");
  EXPECT_EQ(e.repository, "platform");
  EXPECT_EQ(e.kind, EventKind::push);
  EXPECT_EQ(e.sender, "jsmith");
}

TEST_F(WebhookTest, GitlabDeliveryIdFallsBackToEventUuid) {
  const Delivery d = without_header(
      test::gitlab_delivery("Push Hook", test::gitlab_push("acme/platform", "main", kShaA, kShaB),
                            kGitlabToken, "uuid-7"),
      "Idempotency-Key");
  EXPECT_EQ(published(send(d)).delivery_id, "uuid-7");
}

TEST_F(WebhookTest, GitlabSignedDeliveryIsNamedByItsSignedWebhookId) {
  // A replay of a captured signed request with a new (unsigned) Idempotency-Key or event
  // UUID must still be the same delivery, so the dedupe window catches it.
  Delivery d = test::gitlab_signed_delivery(
      "Push Hook", test::gitlab_push("acme/platform", "main", kShaA, kShaB), kGitlabSigningKey,
      "msg_signed_1", kNow);
  d = with_header(std::move(d), "Idempotency-Key", "replayed-with-a-new-key");
  d = with_header(std::move(d), "X-Gitlab-Event-UUID", "replayed-with-a-new-uuid");
  const Decision decision = send(d);
  EXPECT_EQ(decision.delivery_id, "msg_signed_1");
  EXPECT_EQ(published(decision).delivery_id, "msg_signed_1");
}

TEST_F(WebhookTest, GitlabTokenDeliveryIsNamedByEventUuidNeverByIdempotencyKey) {
  Delivery d = test::gitlab_delivery(
      "Push Hook", test::gitlab_push("acme/platform", "main", kShaA, kShaB), kGitlabToken, "uuid-7");
  d = with_header(std::move(d), "Idempotency-Key", "caller-chosen");
  EXPECT_EQ(published(send(d)).delivery_id, "uuid-7");
  // Without the event UUID there is no delivery id; Idempotency-Key does not stand in.
  EXPECT_EQ(error_of(send(without_header(d, "X-Gitlab-Event-UUID")), 400),
            "delivery id header missing");
  // An unsigned webhook-id does not name it either.
  d = with_header(std::move(d), "webhook-id", "unsigned-id");
  EXPECT_EQ(published(send(d)).delivery_id, "uuid-7");
}

TEST_F(WebhookTest, GitlabWrongOrMissingTokenIsUnauthorized) {
  const std::string body = test::gitlab_push("acme/platform", "main", kShaA, kShaB);
  EXPECT_EQ(error_of(send(test::gitlab_delivery("Push Hook", body, "wrong")), 401),
            "signature does not match");
  EXPECT_EQ(error_of(send(without_header(test::gitlab_delivery("Push Hook", body, kGitlabToken),
                                         "X-Gitlab-Token")),
                     401),
            "signature missing");
  // The signing key is not a token.
  EXPECT_EQ(error_of(send(test::gitlab_delivery("Push Hook", body, kGitlabSigningKey)), 401),
            "signature does not match");
}

TEST_F(WebhookTest, GitlabSignedMergeIsPublished) {
  const Delivery d = without_header(
      test::gitlab_signed_delivery("Merge Request Hook",
                                   test::gitlab_merge_request("acme/platform", "main", kShaB),
                                   kGitlabSigningKey, "msg_2Kx9gitopsd", kNow - 30s),
      "Idempotency-Key");
  const Decision decision = send(d);
  const Event e = published(decision);
  EXPECT_EQ(decision.delivery_id, "msg_2Kx9gitopsd");  // webhook-id
  EXPECT_EQ(e.kind, EventKind::merge);
  EXPECT_EQ(e.after, kShaB);
  EXPECT_EQ(e.before, kZeroSha);
  ASSERT_TRUE(e.merge_request);
  EXPECT_EQ(e.merge_request->number, 7);
}

TEST_F(WebhookTest, GitlabSignedDeliveryOutsideToleranceIsUnauthorized) {
  const std::string body = test::gitlab_push("acme/platform", "main", kShaA, kShaB);
  for (const seconds skew : {-301s, 301s}) {
    const Delivery d =
        test::gitlab_signed_delivery("Push Hook", body, kGitlabSigningKey, "msg_1", kNow + skew);
    EXPECT_EQ(error_of(send(d), 401), "webhook timestamp outside tolerance") << skew.count();
  }
  published(send(
      test::gitlab_signed_delivery("Push Hook", body, kGitlabSigningKey, "msg_1", kNow + 300s)));
}

TEST_F(WebhookTest, GitlabWrongSignatureIsUnauthorizedEvenWithValidToken) {
  const std::string body = test::gitlab_push("acme/platform", "main", kShaA, kShaB);
  Delivery d = test::gitlab_signed_delivery(
      "Push Hook", body, "whsec_d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=", "msg_1", kNow);
  d = with_header(std::move(d), "X-Gitlab-Token", std::string(kGitlabToken));
  EXPECT_EQ(error_of(send(d), 401), "signature does not match");
  EXPECT_EQ(error_of(send(without_header(test::gitlab_signed_delivery(
                                             "Push Hook", body, kGitlabSigningKey, "msg_1", kNow),
                                         "webhook-timestamp")),
                     401),
            "webhook-id or webhook-timestamp header missing");
}

TEST_F(WebhookTest, GitlabIgnoredEvents) {
  EXPECT_EQ(
      ignored_reason(send(test::gitlab_delivery(
          "Tag Push Hook",
          test::gitlab_push("acme/platform", "main", kZeroSha, kShaB, {.ref = "refs/tags/v2"}),
          kGitlabToken))),
      "tag");
  EXPECT_EQ(ignored_reason(send(test::gitlab_delivery(
                "Merge Request Hook",
                test::gitlab_merge_request("acme/platform", "main", kShaB, {.action = "open"}),
                kGitlabToken))),
            "merge request action open is not a merge");
  EXPECT_EQ(ignored_reason(send(test::gitlab_delivery(
                "Merge Request Hook", test::gitlab_merge_request("acme/platform", "develop", kShaB),
                kGitlabToken))),
            "branch develop is not tracked");
}

// --- Gitea / Forgejo ----------------------------------------------------------------------------

TEST_F(WebhookTest, GiteaPushIsPublished) {
  const Decision d =
      send(test::gitea_delivery("push", test::gitea_push("me/homelab", "main", kShaA, kShaB),
                                kGiteaSecret, "gitea-delivery-1"));
  const Event e = published(d);
  EXPECT_EQ(d.provider, Provider::gitea);
  EXPECT_EQ(e.delivery_id, "gitea-delivery-1");
  EXPECT_EQ(e.repository, "homelab");
  EXPECT_EQ(e.kind, EventKind::push);
  EXPECT_EQ(std::get<Publish>(d.action).provider, Provider::gitea);
}

TEST_F(WebhookTest, ForgejoHeadersAreAccepted) {
  const Delivery gitea =
      test::gitea_delivery("push", test::gitea_push("me/homelab", "main", kShaA, kShaB),
                           kGiteaSecret, "forgejo-delivery-1");
  Delivery forgejo{gitea.path, {{"Content-Type", "application/json"}}, gitea.body};
  forgejo.headers.emplace_back("X-Forgejo-Event", "push");
  forgejo.headers.emplace_back("X-Forgejo-Delivery", "forgejo-delivery-1");
  forgejo.headers.emplace_back("X-Forgejo-Signature",
                               test::gitea_signature(kGiteaSecret, gitea.body));
  EXPECT_EQ(published(send(forgejo)).delivery_id, "forgejo-delivery-1");
  EXPECT_EQ(send(at(forgejo, "/hooks")).provider, Provider::gitea);
}

TEST_F(WebhookTest, GiteaMergedPullRequestIsPublished) {
  const Event e = published(send(test::gitea_delivery(
      "pull_request", test::gitea_pull_request("me/homelab", "main", kShaA, kShaB), kGiteaSecret)));
  EXPECT_EQ(e.kind, EventKind::merge);
  EXPECT_EQ(e.after, kShaB);
}

TEST_F(WebhookTest, GiteaWrongSignatureIsUnauthorized) {
  const std::string body = test::gitea_push("me/homelab", "main", kShaA, kShaB);
  EXPECT_EQ(error_of(send(test::gitea_delivery("push", body, "wrong")), 401),
            "signature does not match");
  EXPECT_EQ(error_of(send(without_header(test::gitea_delivery("push", body, kGiteaSecret),
                                         "X-Gitea-Signature")),
                     401),
            "signature missing");
}

TEST(EventLabelTest, KnownEventNamesAreKeptAnythingElseIsOther) {
  for (const char* event : {"push", "pull_request", "ping", "create", "release"}) {
    EXPECT_EQ(event_label(Provider::github, event), event);
    EXPECT_EQ(event_label(Provider::gitea, event), event);
  }
  for (const char* event : {"Push Hook", "Merge Request Hook", "Tag Push Hook", "Pipeline Hook"}) {
    EXPECT_EQ(event_label(Provider::gitlab, event), event);
  }
  EXPECT_EQ(event_label(Provider::github, "Push Hook"), "other");
  EXPECT_EQ(event_label(Provider::gitlab, "push"), "other");
  EXPECT_EQ(event_label(Provider::github, "PUSH"), "other");
  EXPECT_EQ(event_label(Provider::github, "push "), "other");
  EXPECT_EQ(event_label(Provider::github, ""), "other");
  EXPECT_EQ(event_label(Provider::gitea, "push"), "push");
  EXPECT_EQ(event_label(Provider::github, R"(push" status=202 outcome=queued x=")"), "other");
  EXPECT_EQ(event_label(Provider::github, std::string(16 * 1024, 'e')), "other");
}

TEST(ErrorBodyTest, IsJsonWithEscapedMessage) {
  EXPECT_EQ(error_body("no such endpoint"), R"({"error":"no such endpoint"})");
  EXPECT_EQ(json::parse(error_body("a \"quoted\"\nline")).at("error"), "a \"quoted\"\nline");
}

}  // namespace
}  // namespace gitopsd::receiver
