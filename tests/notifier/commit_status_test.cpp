// The commit-status mapping and the request each host documents, without a network: states,
// descriptions (140 characters, valid UTF-8, one line), paths, headers and JSON bodies.
#include "gitopsd/notifier/commit_status.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace gitopsd::notifier {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view kSha = "0123456789abcdef0123456789abcdef01234567";

Repository repository(Provider provider, std::string match, std::string api_url) {
  Repository r;
  r.name = "infra";
  r.provider = provider;
  r.match = std::move(match);
  r.api = ApiConfig{std::move(api_url), Secret{"s3cr3t-t0ken", "file /etc/token"}, "/etc/ca.pem"};
  return r;
}

CommitStatus status(CommitState state, std::string description = "applied") {
  return CommitStatus{"infra", "web", std::string(kSha), state, std::move(description),
                      "https://ci.example/infra/web"};
}

std::string header(const HttpRequest& request, std::string_view name) {
  for (const auto& [n, v] : request.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

// Whether `text` is valid UTF-8, checked by Boost.JSON's own validating parser.
bool valid_utf8(std::string_view text) {
  boost::system::error_code ec;
  json::parse(json::serialize(json::string(text)), ec);
  return !ec;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

Result result(ResultStatus status, std::string message = "") {
  Result r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

TEST(NotifierCommitStatusTest, ResultStatusesMapToStatesAsDesignSays) {
  EXPECT_EQ(commit_state(ResultStatus::applied), CommitState::success);
  EXPECT_EQ(commit_state(ResultStatus::unchanged), CommitState::success);
  EXPECT_EQ(commit_state(ResultStatus::superseded), CommitState::success);
  EXPECT_EQ(commit_state(ResultStatus::drift_corrected), CommitState::success);
  EXPECT_EQ(commit_state(ResultStatus::failed), CommitState::failure);
  EXPECT_EQ(commit_state(ResultStatus::drift_detected), CommitState::failure);
}

TEST(NotifierCommitStatusTest, GitLabSaysFailedWhereTheOthersSayFailure) {
  EXPECT_EQ(state_word(Provider::gitlab, CommitState::failure), "failed");
  EXPECT_EQ(state_word(Provider::github, CommitState::failure), "failure");
  EXPECT_EQ(state_word(Provider::gitea, CommitState::failure), "failure");
  for (auto p : {Provider::github, Provider::gitlab, Provider::gitea}) {
    EXPECT_EQ(state_word(p, CommitState::pending), "pending");
    EXPECT_EQ(state_word(p, CommitState::success), "success");
  }
  EXPECT_EQ(status_context("web"), "gitopsd/web");
}

TEST(NotifierCommitStatusTest, DescriptionSaysWhatHappened) {
  EXPECT_EQ(describe(result(ResultStatus::applied)), "applied");
  EXPECT_EQ(describe(result(ResultStatus::failed, "exit code 2")), "failed: exit code 2");
  EXPECT_EQ(describe(result(ResultStatus::drift_detected)), "drift detected, not corrected");
  Result rollback = result(ResultStatus::applied, "moved back");
  rollback.rollback = true;
  EXPECT_EQ(describe(rollback), "applied (rollback): moved back");
}

TEST(NotifierCommitStatusTest, DescriptionIsOneLineWithoutControlCharacters) {
  EXPECT_EQ(describe(result(ResultStatus::failed, "line one\nline\ttwo\r\x1b[31m\x7f")),
            "failed: line one line two  [31m ");
}

TEST(NotifierCommitStatusTest, LongDescriptionIsCutAt140CharactersNeverInsideASequence) {
  // "€" is 3 bytes: a cut by bytes at 140 would land inside one.
  std::string message;
  for (int i = 0; i < 200; ++i) message += "\xE2\x82\xAC";
  const std::string d = describe(result(ResultStatus::failed, message));
  EXPECT_EQ(code_points(d), kMaxDescription);
  EXPECT_TRUE(valid_utf8(d)) << d;
  EXPECT_TRUE(d.ends_with("\xE2\x82\xAC\xE2\x80\xA6")) << "ends in the last whole € and …";
  EXPECT_TRUE(d.starts_with("failed: \xE2\x82\xAC"));

  // Exactly 140 is kept whole.
  const std::string fits(140 - std::string_view("failed: ").size(), 'x');
  EXPECT_EQ(describe(result(ResultStatus::failed, fits)), "failed: " + fits);
}

TEST(NotifierCommitStatusTest, InvalidUtf8BecomesReplacementCharacters) {
  // A lone continuation byte, an overlong '/', a surrogate, a sequence cut short at the end.
  const std::string junk = "a\x80" "b\xC0\xAF" "c\xED\xA0\x80" "d\xE2\x82";
  const std::string d = describe(result(ResultStatus::failed, junk));
  EXPECT_TRUE(valid_utf8(d)) << d;
  EXPECT_EQ(d.find('\x80'), std::string::npos) << "no byte of the junk is left";
  EXPECT_NE(d.find("a\xEF\xBF\xBD" "b"), std::string::npos) << d;
  EXPECT_TRUE(d.ends_with("d\xEF\xBF\xBD\xEF\xBF\xBD")) << d;

  // Junk past the cut cannot leave half a sequence either.
  std::string long_junk(300, '\xFF');
  const std::string cut = describe(result(ResultStatus::failed, long_junk));
  EXPECT_TRUE(valid_utf8(cut));
  EXPECT_EQ(code_points(cut), kMaxDescription);
}

TEST(NotifierCommitStatusTest, GitHubRequestIsTheDocumentedOne) {
  const auto request = commit_status_request(
      repository(Provider::github, "acme/infra", "https://api.github.com/"),
      status(CommitState::failure, "failed: \"quoted\" \\ and \x01"), 2500ms);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, "https://api.github.com/repos/acme/infra/statuses/" + std::string(kSha));
  EXPECT_EQ(header(request, "Authorization"), "Bearer s3cr3t-t0ken");
  EXPECT_EQ(header(request, "Accept"), "application/vnd.github+json");
  EXPECT_EQ(header(request, "X-GitHub-Api-Version"), "2022-11-28");
  EXPECT_EQ(header(request, "User-Agent"), "gitopsd-notifier");
  EXPECT_EQ(header(request, "Content-Type"), "application/json");
  EXPECT_EQ(request.timeout, 2500ms);
  EXPECT_EQ(request.ca_file, "/etc/ca.pem");
  const auto body = json::parse(request.body).as_object();
  EXPECT_EQ(body.size(), 4u);
  EXPECT_EQ(body.at("state"), "failure");
  EXPECT_EQ(body.at("context"), "gitopsd/web");
  EXPECT_EQ(body.at("description"), "failed: \"quoted\" \\ and  ");
  EXPECT_EQ(body.at("target_url"), "https://ci.example/infra/web");
}

TEST(NotifierCommitStatusTest, GitLabRequestEncodesThePathAndNamesTheStatus) {
  const auto request = commit_status_request(
      repository(Provider::gitlab, "group/sub group/my.project", "https://gitlab.example/api/v4"),
      status(CommitState::failure), 1s);
  EXPECT_EQ(request.url, "https://gitlab.example/api/v4/projects/group%2Fsub%20group%2Fmy.project/statuses/" +
                             std::string(kSha));
  EXPECT_EQ(header(request, "PRIVATE-TOKEN"), "s3cr3t-t0ken");
  EXPECT_EQ(header(request, "Authorization"), "<absent>");
  const auto body = json::parse(request.body).as_object();
  EXPECT_EQ(body.at("state"), "failed");
  EXPECT_EQ(body.at("name"), "gitopsd/web");
  EXPECT_FALSE(body.contains("context"));
}

TEST(NotifierCommitStatusTest, GiteaRequestUsesItsTokenSchemeAndEncodesSegments) {
  auto s = status(CommitState::success);
  s.target_url.clear();
  const auto request = commit_status_request(
      repository(Provider::gitea, "my org/re#po?", "http://127.0.0.1:3000/api/v1"), s, 1s);
  EXPECT_EQ(request.url,
            "http://127.0.0.1:3000/api/v1/repos/my%20org/re%23po%3F/statuses/" + std::string(kSha));
  EXPECT_EQ(header(request, "Authorization"), "token s3cr3t-t0ken");
  const auto body = json::parse(request.body).as_object();
  EXPECT_EQ(body.at("state"), "success");
  EXPECT_FALSE(body.contains("target_url")) << "no link: no field, not an empty URL";
}

}  // namespace
}  // namespace gitopsd::notifier
