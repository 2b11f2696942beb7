// judge() on every kind of answer a Git host or a sink gives: done, retry (and when), give up;
// the host's rate-limit words read as RFC 9110 and the hosts' docs say, junk never trusted.
#include "gitopsd/notifier/delivery.hpp"

#include <gtest/gtest.h>

namespace gitopsd::notifier {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;
using Kind = Verdict::Kind;

// 2026-12-03T16:00:00Z
const Clock::time_point kNow = Clock::time_point(1796313600s);

HttpResponse answer(int status, std::map<std::string, std::string> headers = {},
                    std::string body = "") {
  return HttpResponse{status, std::move(headers), std::move(body)};
}

Verdict judged(const HttpResponse& response) { return judge(response, kNow); }

TEST(NotifierJudgeTest, TwoHundredsAreDone) {
  for (int status : {200, 201, 202, 204}) {
    const auto v = judged(answer(status));
    EXPECT_EQ(v.kind, Kind::done) << status;
    EXPECT_EQ(v.http_status, status);
    EXPECT_FALSE(v.rate_limited);
  }
}

TEST(NotifierJudgeTest, NoAnswerIsRetriedByTheCallersBackoff) {
  const auto v = judge(std::string("connect to 127.0.0.1:1: Connection refused"), kNow);
  EXPECT_EQ(v.kind, Kind::retry);
  EXPECT_EQ(v.http_status, 0);
  EXPECT_FALSE(v.not_before);
  EXPECT_NE(v.why.find("Connection refused"), std::string::npos) << v.why;
}

TEST(NotifierJudgeTest, ServerErrorsAndTimeoutsAreRetried) {
  for (int status : {408, 500, 502, 503, 504}) {
    const auto v = judged(answer(status));
    EXPECT_EQ(v.kind, Kind::retry) << status;
    EXPECT_FALSE(v.rate_limited) << status;
    EXPECT_FALSE(v.not_before) << status;
  }
  // A 503 may say when to come back.
  EXPECT_EQ(judged(answer(503, {{"retry-after", "30"}})).not_before, kNow + 30s);
}

TEST(NotifierJudgeTest, ClientErrorsAreGivenUp) {
  for (int status : {301, 400, 401, 403, 404, 410, 422}) {
    const auto v = judged(answer(status, {}, R"({"message":"Bad credentials"})"));
    EXPECT_EQ(v.kind, Kind::give_up) << status;
    EXPECT_FALSE(v.rate_limited) << status;
  }
  const auto v = judged(answer(401, {}, R"({"message":"Bad credentials"})"));
  EXPECT_EQ(v.why, R"(HTTP 401: "{\"message\":\"Bad credentials\"}")");
}

TEST(NotifierJudgeTest, WhyIsOneBoundedLine) {
  const std::string body = "line one\nline two\r\n\x1b[31m" + std::string(5000, 'x');
  const auto v = judged(answer(500, {}, body));
  EXPECT_EQ(v.why.find('\n'), std::string::npos);
  EXPECT_EQ(v.why.find('\x1b'), std::string::npos);
  EXPECT_NE(v.why.find("line one\\x0aline two"), std::string::npos) << v.why;
  EXPECT_LT(v.why.size(), 200u + 64u);  // 200 bytes of the body, escapes and the prefix
}

TEST(NotifierJudgeTest, TooManyRequestsWaitsForRetryAfterSeconds) {
  const auto v = judged(answer(429, {{"retry-after", " 120 "}}));
  EXPECT_EQ(v.kind, Kind::retry);
  EXPECT_TRUE(v.rate_limited);
  EXPECT_EQ(v.not_before, kNow + 120s);
  EXPECT_EQ(judged(answer(429, {{"retry-after", "0"}})).not_before, kNow);
}

TEST(NotifierJudgeTest, RetryAfterAsAnHttpDateInEveryFormRfc9110Names) {
  // kNow + 90 s = Thu, 03 Dec 2026 16:01:30 GMT
  for (const char* date : {"Thu, 03 Dec 2026 16:01:30 GMT", "Thursday, 03-Dec-26 16:01:30 GMT",
                           "Thu Dec  3 16:01:30 2026"}) {
    const auto v = judged(answer(429, {{"retry-after", date}}));
    EXPECT_EQ(v.not_before, kNow + 90s) << date;
  }
  // A date already past: come back now.
  EXPECT_EQ(judged(answer(429, {{"retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"}})).not_before,
            kNow);
}

TEST(NotifierJudgeTest, GitHubSpentPrimaryLimitWaitsForTheReset) {
  const auto reset = std::to_string(1796313600 + 600);
  for (int status : {403, 429}) {
    const auto v = judged(answer(status, {{"x-ratelimit-remaining", "0"},
                                          {"x-ratelimit-reset", reset},
                                          {"x-ratelimit-limit", "5000"}}));
    EXPECT_EQ(v.kind, Kind::retry) << status;
    EXPECT_TRUE(v.rate_limited) << status;
    EXPECT_EQ(v.not_before, kNow + 600s) << status;
  }
  // Limit not spent: a 403 is a permission the token lacks.
  const auto forbidden = judged(answer(403, {{"x-ratelimit-remaining", "4999"},
                                            {"x-ratelimit-reset", reset}}));
  EXPECT_EQ(forbidden.kind, Kind::give_up);
  EXPECT_FALSE(forbidden.rate_limited);
}

TEST(NotifierJudgeTest, GitHubSecondaryLimitWaitsForRetryAfter) {
  const auto v = judged(answer(403, {{"retry-after", "60"}, {"x-ratelimit-remaining", "12"}}));
  EXPECT_EQ(v.kind, Kind::retry);
  EXPECT_TRUE(v.rate_limited);
  EXPECT_EQ(v.not_before, kNow + 60s);
}

TEST(NotifierJudgeTest, RetryAfterWinsOverTheReset) {
  const auto v = judged(answer(429, {{"retry-after", "5"},
                                     {"ratelimit-remaining", "0"},
                                     {"ratelimit-reset", std::to_string(1796313600 + 60)}}));
  EXPECT_EQ(v.not_before, kNow + 5s);
}

TEST(NotifierJudgeTest, GitLabTooManyRequestsWaitsForRateLimitReset) {
  const auto v = judged(
      answer(429, {{"ratelimit-remaining", "0"}, {"ratelimit-reset", std::to_string(1796313600 + 42)}}));
  EXPECT_EQ(v.kind, Kind::retry);
  EXPECT_TRUE(v.rate_limited);
  EXPECT_EQ(v.not_before, kNow + 42s);
}

TEST(NotifierJudgeTest, GarbageRateLimitWordsAreIgnoredOrClamped) {
  // Unreadable: the caller's backoff decides.
  for (const char* junk : {"", "soon", "-5", "1.5", "12abc", "0x10", "Thu, 32 Dec 2026 16:01:30 GMT",
                           "Thu, 03 Foo 2026 16:01:30 GMT", "Thu, 03 Dec 2026 25:01:30 GMT",
                           "Thu, 03 Dec 2026 16:01:30 GMT trailing"}) {
    const auto v = judged(answer(429, {{"retry-after", junk}}));
    EXPECT_EQ(v.kind, Kind::retry) << junk;
    EXPECT_FALSE(v.not_before) << junk;
  }
  // Overflowing or absurdly far: at most a day ahead, never a wrapped time in the past.
  for (const char* far : {"99999999999999999999999999999999", "9223372036854775808",
                          "Fri, 31 Dec 9999 23:59:59 GMT"}) {
    const auto v = judged(answer(429, {{"retry-after", far}}));
    ASSERT_TRUE(v.not_before) << far;
    EXPECT_EQ(*v.not_before, kNow + 24h) << far;
  }
  for (const char* reset : {"-1", "abc", ""}) {
    const auto v = judged(answer(403, {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", reset}}));
    EXPECT_EQ(v.kind, Kind::retry) << reset;
    EXPECT_FALSE(v.not_before) << reset;
  }
  const auto far_reset = judged(answer(
      403, {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "18446744073709551617"}}));
  EXPECT_EQ(far_reset.not_before, kNow + 24h);
  const auto past_reset =
      judged(answer(403, {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1"}}));
  EXPECT_EQ(past_reset.not_before, kNow);
}

}  // namespace
}  // namespace gitopsd::notifier
