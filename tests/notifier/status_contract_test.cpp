// Contract tests: the notifier's status and sink clients, over real HTTPS on loopback, against
// stand-ins that implement the hosts' documented endpoints (tests/support/status_api_server.hpp):
// paths, auth schemes, JSON bodies, and the answers a host documents for success, a bad
// token, an unknown repository or commit, a bad state, rate limits and outages. GitHub and
// GitLab cannot run here; Gitea is also tested against the real Gitea.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "gitopsd/crypto.hpp"
#include "gitopsd/http_client.hpp"
#include "gitopsd/notifier/commit_status.hpp"
#include "gitopsd/notifier/delivery.hpp"
#include "gitopsd/notifier/sinks.hpp"
#include "gitopsd/receiver/signature.hpp"
#include "loopback_http_server.hpp"
#include "status_api_server.hpp"

namespace gitopsd::notifier {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::CannedAnswer;
using test::StatusApiServer;
using Kind = Verdict::Kind;

constexpr std::string_view kSha = "0123456789abcdef0123456789abcdef01234567";
constexpr std::string_view kOtherSha = "fedcba9876543210fedcba9876543210fedcba98";
constexpr std::string_view kToken = "ghp_contract-test-token-0123456789";

Repository repository(const StatusApiServer& server, std::string match,
                      std::string_view token = kToken) {
  Repository r;
  r.name = "infra";
  r.provider = server.provider();
  r.match = std::move(match);
  r.api = ApiConfig{server.api_url(), Secret{std::string(token), "file /etc/token"},
                    server.ca_file()};
  return r;
}

CommitStatus status(CommitState state, std::string_view sha = kSha) {
  return CommitStatus{"infra", "web", std::string(sha), state, "applied",
                      "https://ci.example/infra/web"};
}

struct Sent {
  Verdict verdict;
  std::string body;  // the host's answer ("" when none)
};

Sent send(const HttpRequest& request) {
  const auto answer = http_request(request);
  Sent sent{judge(answer, std::chrono::system_clock::now()), ""};
  if (const auto* response = std::get_if<HttpResponse>(&answer)) sent.body = response->body;
  return sent;
}

Sent set_status(const Repository& repo, const CommitStatus& s) {
  return send(commit_status_request(repo, s, 10s));
}

// GET on the server's API with the right credentials, as a test reads a host back.
json::array list_statuses(StatusApiServer& server, const std::string& path) {
  HttpRequest get;
  get.url = server.api_url() + path;
  get.ca_file = server.ca_file();
  get.timeout = 10s;
  get.headers = {{"User-Agent", "contract-test"}};
  switch (server.provider()) {
    case Provider::github:
      get.headers.emplace_back("Authorization", "Bearer " + std::string(kToken));
      break;
    case Provider::gitlab:
      get.headers.emplace_back("PRIVATE-TOKEN", std::string(kToken));
      break;
    case Provider::gitea:
      get.headers.emplace_back("Authorization", "token " + std::string(kToken));
      break;
  }
  const auto answer = http_request(get);
  const auto* response = std::get_if<HttpResponse>(&answer);
  if (response == nullptr || response->status != 200) {
    ADD_FAILURE() << "GET " << path << ": "
                  << (response ? std::to_string(response->status) + " " + response->body
                               : std::get<std::string>(answer));
    return {};
  }
  return json::parse(response->body).as_array();
}

// A raw POST to the stand-in, for what our client never sends (proving the stand-in refuses
// what the host refuses, so a client that drifted would fail here).
HttpResponse raw_post(StatusApiServer& server, const std::string& path, const std::string& body,
                      std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Content-Type", "application/json");
  headers.emplace_back("User-Agent", "contract-test");
  HttpRequest post{"POST", server.api_url() + path, std::move(headers), body, 10s,
                   server.ca_file()};
  auto answer = http_request(post);
  if (auto* response = std::get_if<HttpResponse>(&answer)) return *response;
  ADD_FAILURE() << std::get<std::string>(answer);
  return {};
}

// The client keeps trying as the engine does: waits for not_before (else 100 ms) after a
// retry verdict, up to `tries`.
std::vector<Verdict> try_until_done(const HttpRequest& request, int tries) {
  std::vector<Verdict> verdicts;
  for (int i = 0; i < tries; ++i) {
    verdicts.push_back(send(request).verdict);
    const Verdict& v = verdicts.back();
    if (v.kind != Kind::retry) break;
    std::this_thread::sleep_until(v.not_before.value_or(std::chrono::system_clock::now() + 100ms));
  }
  return verdicts;
}

// --- GitHub ---------------------------------------------------------------------------------

class GitHubStatusContract : public ::testing::Test {
 protected:
  GitHubStatusContract() { server_.add_commit("acme/infra", kSha); }
  StatusApiServer server_{Provider::github, std::string(kToken)};
};

TEST_F(GitHubStatusContract, PendingThenSuccessAreSetAndReadBack) {
  const auto repo = repository(server_, "Acme/Infra");  // GitHub names ignore case
  const auto pending = set_status(repo, status(CommitState::pending));
  ASSERT_EQ(pending.verdict.kind, Kind::done) << pending.verdict.why;
  EXPECT_EQ(pending.verdict.http_status, 201);
  const auto created = json::parse(pending.body).as_object();
  EXPECT_EQ(created.at("state"), "pending");
  EXPECT_EQ(created.at("context"), "gitopsd/web");
  ASSERT_EQ(set_status(repo, status(CommitState::failure)).verdict.kind, Kind::done);

  // Read back as from GitHub: newest first.
  const auto list = list_statuses(server_, "/repos/acme/infra/commits/" + std::string(kSha) + "/statuses");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("state"), "failure");
  EXPECT_EQ(list[0].at("context"), "gitopsd/web");
  EXPECT_EQ(list[0].at("description"), "applied");
  EXPECT_EQ(list[0].at("target_url"), "https://ci.example/infra/web");
  EXPECT_EQ(list[1].at("state"), "pending");

  // What went over the wire is the documented request.
  const auto requests = server_.http().requests();
  ASSERT_GE(requests.size(), 2u);
  const auto& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/repos/Acme/Infra/statuses/" + std::string(kSha));
  EXPECT_EQ(r.header("authorization"), "Bearer " + std::string(kToken));
  EXPECT_EQ(r.header("accept"), "application/vnd.github+json");
  EXPECT_EQ(r.header("x-github-api-version"), "2022-11-28");
  EXPECT_EQ(r.header("user-agent"), "gitopsd-notifier");
  EXPECT_EQ(r.header("content-type"), "application/json");
  const auto body = json::parse(r.body).as_object();
  for (const char* field : {"state", "context", "description", "target_url"}) {
    ASSERT_TRUE(body.contains(field)) << field;
    EXPECT_TRUE(body.at(field).is_string()) << field;
  }
}

TEST_F(GitHubStatusContract, BadTokenIsGivenUpAndNeverInWhy) {
  const auto sent = set_status(repository(server_, "acme/infra", "ghp_wrong-token-value"),
                               status(CommitState::pending));
  EXPECT_EQ(sent.verdict.kind, Kind::give_up);
  EXPECT_EQ(sent.verdict.http_status, 401);
  EXPECT_NE(sent.verdict.why.find("Bad credentials"), std::string::npos) << sent.verdict.why;
  EXPECT_EQ(sent.verdict.why.find("ghp_wrong"), std::string::npos) << sent.verdict.why;
  EXPECT_TRUE(server_.statuses("acme/infra", kSha).empty());
}

TEST_F(GitHubStatusContract, UnknownRepositoryIs404AndUnknownShaIs422) {
  const auto no_repo = set_status(repository(server_, "acme/nope"), status(CommitState::pending));
  EXPECT_EQ(no_repo.verdict.kind, Kind::give_up);
  EXPECT_EQ(no_repo.verdict.http_status, 404);
  const auto no_sha =
      set_status(repository(server_, "acme/infra"), status(CommitState::pending, kOtherSha));
  EXPECT_EQ(no_sha.verdict.kind, Kind::give_up);
  EXPECT_EQ(no_sha.verdict.http_status, 422);
  EXPECT_NE(no_sha.body.find("No commit found for SHA"), std::string::npos) << no_sha.body;
}

TEST_F(GitHubStatusContract, LongDescriptionIsCutToWhatGitHubTakes) {
  auto s = status(CommitState::failure);
  s.description = std::string(300, 'x');
  EXPECT_EQ(set_status(repository(server_, "acme/infra"), s).verdict.kind, Kind::done);
  ASSERT_EQ(server_.statuses("acme/infra", kSha).size(), 1u);
  // The stand-in refuses what GitHub refuses: 141 characters, a state it does not know.
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"Authorization", "Bearer " + std::string(kToken)}};
  const std::string path = "/repos/acme/infra/statuses/" + std::string(kSha);
  EXPECT_EQ(raw_post(server_, path,
                     R"({"state":"success","description":")" + std::string(141, 'x') + "\"}", auth)
                .status,
            422);
  EXPECT_EQ(raw_post(server_, path, R"({"state":"failed"})", auth).status, 422);
  EXPECT_EQ(raw_post(server_, path, R"({"state":"success","context":7})", auth).status, 422);
  EXPECT_EQ(raw_post(server_, path, R"({"state":"success"})",
                     {{"Authorization", "token " + std::string(kToken)}})
                .status,
            401);
}

TEST_F(GitHubStatusContract, SpentPrimaryLimitWaitsForTheReset) {
  const auto reset = std::chrono::system_clock::now() + 120s;
  server_.http().force(StatusApiServer::github_primary_limit(reset));
  const auto limited = set_status(repository(server_, "acme/infra"), status(CommitState::pending));
  EXPECT_EQ(limited.verdict.kind, Kind::retry);
  EXPECT_TRUE(limited.verdict.rate_limited);
  EXPECT_EQ(limited.verdict.http_status, 403);
  ASSERT_TRUE(limited.verdict.not_before);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(limited.verdict.not_before->time_since_epoch()),
            std::chrono::duration_cast<std::chrono::seconds>(reset.time_since_epoch()));
  // The limit reset: the next try goes through.
  EXPECT_EQ(set_status(repository(server_, "acme/infra"), status(CommitState::pending)).verdict.kind,
            Kind::done);
}

TEST_F(GitHubStatusContract, SecondaryLimitAndTooManyRequestsHonourRetryAfter) {
  server_.http().force(StatusApiServer::github_secondary_limit(1s));
  server_.http().force(StatusApiServer::too_many_requests("1"));
  const auto verdicts =
      try_until_done(commit_status_request(repository(server_, "acme/infra"),
                                           status(CommitState::success), 10s),
                     5);
  ASSERT_EQ(verdicts.size(), 3u);
  EXPECT_EQ(verdicts[0].http_status, 403);
  EXPECT_EQ(verdicts[1].http_status, 429);
  EXPECT_TRUE(verdicts[0].rate_limited && verdicts[1].rate_limited);
  EXPECT_EQ(verdicts[2].kind, Kind::done);
  // Each try came after the Retry-After of the one before (whole seconds, so >= 0.9 s apart
  // allowing for the clock's rounding of a header in seconds).
  const auto requests = server_.http().requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_GE(requests[1].at - requests[0].at, 900ms);
  EXPECT_GE(requests[2].at - requests[1].at, 900ms);
  EXPECT_EQ(server_.latest("acme/infra", kSha, "gitopsd/web")->state, "success");
}

TEST_F(GitHubStatusContract, HostDownIsRetriedAndBackUpTakesIt) {
  server_.http().set_down(true);
  const auto repo = repository(server_, "acme/infra");
  const auto down = set_status(repo, status(CommitState::pending));
  EXPECT_EQ(down.verdict.kind, Kind::retry);
  EXPECT_EQ(down.verdict.http_status, 0);
  EXPECT_NE(down.verdict.why.find("refused"), std::string::npos) << down.verdict.why;
  server_.http().set_down(false);
  EXPECT_EQ(set_status(repo, status(CommitState::pending)).verdict.kind, Kind::done);

  // A host that cuts the connection mid-answer, or is slower than the timeout: retried too.
  server_.http().force(CannedAnswer{.drop = true});
  EXPECT_EQ(set_status(repo, status(CommitState::success)).verdict.kind, Kind::retry);
  server_.http().force(CannedAnswer{.status = 201, .delay = 1500ms});
  EXPECT_EQ(send(commit_status_request(repo, status(CommitState::success), 300ms)).verdict.kind,
            Kind::retry);
  server_.http().force(CannedAnswer{.status = 502, .body = "<html>bad gateway</html>"});
  EXPECT_EQ(set_status(repo, status(CommitState::success)).verdict.kind, Kind::retry);
}

// --- GitLab ---------------------------------------------------------------------------------

class GitLabStatusContract : public ::testing::Test {
 protected:
  GitLabStatusContract() { server_.add_commit("platform/ops/infra", kSha); }
  StatusApiServer server_{Provider::gitlab, std::string(kToken)};
};

TEST_F(GitLabStatusContract, StatusIsSetOnTheUrlEncodedProjectAndReadBack) {
  const auto repo = repository(server_, "platform/ops/infra");
  const auto pending = set_status(repo, status(CommitState::pending));
  ASSERT_EQ(pending.verdict.kind, Kind::done) << pending.verdict.why;
  EXPECT_EQ(pending.verdict.http_status, 201);
  EXPECT_EQ(json::parse(pending.body).at("status"), "pending");
  ASSERT_EQ(set_status(repo, status(CommitState::failure)).verdict.kind, Kind::done);

  // GitLab moves the pending status of that name on: one status, now failed.
  const auto list = list_statuses(
      server_, "/projects/platform%2Fops%2Finfra/repository/commits/" + std::string(kSha) + "/statuses");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("status"), "failed");
  EXPECT_EQ(list[0].at("name"), "gitopsd/web");
  EXPECT_EQ(list[0].at("description"), "applied");
  EXPECT_EQ(list[0].at("target_url"), "https://ci.example/infra/web");

  const auto r = server_.http().requests().at(0);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/api/v4/projects/platform%2Fops%2Finfra/statuses/" + std::string(kSha));
  EXPECT_EQ(r.header("private-token"), kToken);
  EXPECT_EQ(r.header("authorization"), "");
  EXPECT_EQ(r.header("content-type"), "application/json");
  const auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("name"), "gitopsd/web");
  EXPECT_EQ(body.at("state"), "pending");
}

TEST_F(GitLabStatusContract, BadTokenUnknownProjectAndUnknownCommitAreGivenUp) {
  const auto bad_token = set_status(repository(server_, "platform/ops/infra", "glpat-wrong"),
                                    status(CommitState::pending));
  EXPECT_EQ(bad_token.verdict.kind, Kind::give_up);
  EXPECT_EQ(bad_token.verdict.http_status, 401);
  EXPECT_EQ(bad_token.body, R"({"message":"401 Unauthorized"})");
  EXPECT_EQ(bad_token.verdict.why.find("glpat-wrong"), std::string::npos);

  const auto no_project = set_status(repository(server_, "platform/ops/nope"), status(CommitState::pending));
  EXPECT_EQ(no_project.verdict.kind, Kind::give_up);
  EXPECT_EQ(no_project.verdict.http_status, 404);
  EXPECT_EQ(no_project.body, R"({"message":"404 Project Not Found"})");

  const auto no_commit = set_status(repository(server_, "platform/ops/infra"),
                                    status(CommitState::pending, kOtherSha));
  EXPECT_EQ(no_commit.verdict.http_status, 404);
  EXPECT_EQ(no_commit.verdict.kind, Kind::give_up);
}

TEST_F(GitLabStatusContract, StandInRefusesWhatGitLabRefuses) {
  const std::vector<std::pair<std::string, std::string>> auth = {{"PRIVATE-TOKEN", std::string(kToken)}};
  const std::string path = "/projects/platform%2Fops%2Finfra/statuses/" + std::string(kSha);
  auto bad_state = raw_post(server_, path, R"({"state":"failure","name":"x"})", auth);
  EXPECT_EQ(bad_state.status, 400);
  EXPECT_EQ(bad_state.body, R"({"error":"state does not have a valid value"})");
  EXPECT_EQ(raw_post(server_, path, R"({"name":"x"})", auth).status, 400);
  // The path unencoded is another route: 404.
  EXPECT_EQ(raw_post(server_, "/projects/platform/ops/infra/statuses/" + std::string(kSha),
                     R"({"state":"success"})", auth)
                .status,
            404);
  EXPECT_EQ(raw_post(server_, path, R"({"state":"success"})",
                     {{"Authorization", "Bearer " + std::string(kToken)}})
                .status,
            401);
}

TEST_F(GitLabStatusContract, SecondPendingOfTheSameNameIsRefusedAsGitLabDoes) {
  // A redelivered event sets pending again: GitLab answers 400 (no such transition); the
  // status stays pending, which is what was meant, so giving up loses nothing.
  const auto repo = repository(server_, "platform/ops/infra");
  ASSERT_EQ(set_status(repo, status(CommitState::pending)).verdict.kind, Kind::done);
  const auto again = set_status(repo, status(CommitState::pending));
  EXPECT_EQ(again.verdict.http_status, 400);
  EXPECT_EQ(again.verdict.kind, Kind::give_up);
  EXPECT_NE(again.body.find("Cannot transition status via :enqueue from :pending"), std::string::npos);
  EXPECT_EQ(server_.latest("platform/ops/infra", kSha, "gitopsd/web")->state, "pending");
  // Success, then success again (a redelivered result): a finished status is not moved, a
  // new one is added, as GitLab does.
  ASSERT_EQ(set_status(repo, status(CommitState::success)).verdict.kind, Kind::done);
  ASSERT_EQ(set_status(repo, status(CommitState::success)).verdict.kind, Kind::done);
  EXPECT_EQ(server_.statuses("platform/ops/infra", kSha).size(), 2u);
}

TEST_F(GitLabStatusContract, RateLimitedWaitsForRetryAfter) {
  server_.http().force(StatusApiServer::gitlab_rate_limited(1s));
  const auto before = std::chrono::system_clock::now();
  const auto verdicts = try_until_done(
      commit_status_request(repository(server_, "platform/ops/infra"), status(CommitState::pending), 10s),
      3);
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_EQ(verdicts[0].http_status, 429);
  EXPECT_TRUE(verdicts[0].rate_limited);
  ASSERT_TRUE(verdicts[0].not_before);
  EXPECT_GE(*verdicts[0].not_before, before + 1s);
  EXPECT_EQ(verdicts[1].kind, Kind::done);
}

// --- Gitea (the real one is tested end to end too) ------------------------------------------

TEST(GiteaStatusContract, StatusIsSetWithItsTokenSchemeAndReadBack) {
  StatusApiServer server(Provider::gitea, std::string(kToken));
  server.add_commit("acme/infra", kSha);
  const auto sent = set_status(repository(server, "acme/infra"), status(CommitState::failure));
  ASSERT_EQ(sent.verdict.kind, Kind::done) << sent.verdict.why;
  EXPECT_EQ(server.http().requests().at(0).header("authorization"), "token " + std::string(kToken));
  const auto list = list_statuses(server, "/repos/acme/infra/commits/" + std::string(kSha) + "/statuses");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("status"), "failure");
  EXPECT_EQ(list[0].at("context"), "gitopsd/web");
  EXPECT_EQ(set_status(repository(server, "acme/infra", "wrong"), status(CommitState::success))
                .verdict.kind,
            Kind::give_up);
}

// --- Sinks ----------------------------------------------------------------------------------

Notification notification() {
  Notification n;
  n.id = "5b2f8c1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b";
  n.repository = "infra";
  n.target = "web";
  n.commit = std::string(kSha);
  n.status = "failed";
  n.event_id = "e1";
  n.message = "exit code 2";
  n.at = "2026-12-03T16:00:00.000Z";
  return n;
}

TEST(SinkContract, WebhookIsSignedSoAReceiverVerifiesIt) {
  test::LoopbackHttpServer receiver(true);
  Sink sink;
  sink.name = "audit";
  sink.type = SinkType::webhook;
  sink.url = receiver.url("/gitopsd/events");
  sink.ca_file = receiver.ca_file();
  sink.secret = Secret{"whsec_" + base64_encode("gitopsd-notifier-test-key-32byte"), "test"};
  sink.on = {"failed"};
  const auto sent = send(sink_request(sink, notification(), std::chrono::system_clock::now(), 10s));
  EXPECT_EQ(sent.verdict.kind, Kind::done) << sent.verdict.why;
  ASSERT_EQ(receiver.request_count(), 1u);
  const auto r = receiver.requests()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/gitopsd/events");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("user-agent"), "gitopsd-notifier");
  EXPECT_TRUE(receiver::verify_standard_webhook(r.header("webhook-id"), r.header("webhook-timestamp"),
                                                r.header("webhook-signature"), r.body,
                                                {*sink.secret}, std::chrono::system_clock::now()));
  EXPECT_EQ(json::parse(r.body).at("id").as_string(), notification().id);
}

TEST(SinkContract, SlackSinkPostsTextAndADownSinkIsRetried) {
  test::LoopbackHttpServer slack(true);  // answers 200 "ok", as Slack does
  Sink sink;
  sink.name = "chat";
  sink.type = SinkType::slack;
  sink.url = slack.url("/services/T000/B000/XXXX");
  sink.ca_file = slack.ca_file();
  sink.on = {"failed"};
  const auto request = sink_request(sink, notification(), std::chrono::system_clock::now(), 10s);
  EXPECT_EQ(send(request).verdict.kind, Kind::done);
  const auto body = json::parse(slack.requests().at(0).body).as_object();
  EXPECT_TRUE(body.at("text").is_string());

  slack.set_down(true);
  const auto down = send(request);
  EXPECT_EQ(down.verdict.kind, Kind::retry);
  EXPECT_EQ(down.verdict.why.find("XXXX"), std::string::npos) << "the URL's secret path";
  slack.set_down(false);
  EXPECT_EQ(send(request).verdict.kind, Kind::done);
  EXPECT_EQ(slack.request_count(), 2u);
}

}  // namespace
}  // namespace gitopsd::notifier
