#include "gitopsd/notifier/delivery.hpp"

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>

#include "gitopsd/log.hpp"

namespace gitopsd::notifier {

namespace {

using Clock = std::chrono::system_clock;

// A host's word on when to come back is taken up to this far ahead; beyond that it is junk or
// a misconfigured host (the engine waits at most notify.max_backoff anyway). Counting in
// seconds up to here, and only then converting to the clock's nanoseconds, cannot overflow.
constexpr std::int64_t kMaxWaitSeconds = 24 * 3600;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::string_view> header(const HttpResponse& response, const char* name) {
  const auto it = response.headers.find(name);
  if (it == response.headers.end()) return std::nullopt;
  return trim(it->second);
}

// 1*DIGIT, saturating at kMaxWaitSeconds past any time we could mean (no overflow on 10^30).
std::optional<std::int64_t> parse_digits(std::string_view s, std::int64_t cap) {
  if (s.empty() || s.size() > 32) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
    if (value > cap) value = cap;  // keeps value * 10 far from the int64 limit
  }
  return value;
}

std::int64_t seconds_since_epoch(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// `at` (Unix seconds) brought into [now, now + kMaxWaitSeconds]: a time already past means
// "now", one absurdly far means "as late as we would wait anyway".
Clock::time_point clamp_to_wait(std::int64_t at, Clock::time_point now) {
  const std::int64_t from_now = at - seconds_since_epoch(now);
  if (from_now <= 0) return now;
  return now + std::chrono::seconds(std::min(from_now, kMaxWaitSeconds));
}

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// HTTP-date (RFC 9110 section 5.6.7) as Unix seconds: IMF-fixdate "Sun, 06 Nov 1994 08:49:37
// GMT", and the obsolete forms a recipient must still take, rfc850-date "Sunday, 06-Nov-94
// 08:49:37 GMT" and asctime-date "Sun Nov  6 08:49:37 1994". The weekday is not checked.
std::optional<std::int64_t> parse_http_date(std::string_view text) {
  if (text.size() > 64) return std::nullopt;
  const std::string s(text);
  char weekday[16] = {};
  char month_name[4] = {};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0, end = -1;
  const bool imf = std::sscanf(s.c_str(), "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
                               weekday, &day, month_name, &year, &hour, &minute, &second,
                               &end) == 7 &&
                   end == static_cast<int>(s.size());
  if (!imf) {
    end = -1;
    const bool rfc850 =
        std::sscanf(s.c_str(), "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", weekday, &day,
                    month_name, &year, &hour, &minute, &second, &end) == 7 &&
        end == static_cast<int>(s.size());
    if (rfc850) {
      // A two-digit year: the 20th century for 70..99, else the 21st (RFC 9110 asks for the
      // most recent past year with those digits; no server alive sends a date before 1970).
      year += year >= 70 ? 1900 : 2000;
    } else {
      end = -1;
      const bool asctime =
          std::sscanf(s.c_str(), "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", weekday,
                      month_name, &day, &hour, &minute, &second, &year, &end) == 7 &&
          end == static_cast<int>(s.size());
      if (!asctime) return std::nullopt;
    }
  }
  unsigned month = 0;
  for (unsigned i = 0; i < kMonths.size(); ++i) {
    if (month_name == kMonths[i]) month = i + 1;
  }
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (month == 0 || day < 1 || !date.ok() || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const auto days = std::chrono::sys_days(date).time_since_epoch().count();
  return static_cast<std::int64_t>(days) * 86400 + hour * 3600 + minute * 60 + second;
}

// Retry-After: delta-seconds or an HTTP-date. Anything else is ignored.
std::optional<Clock::time_point> retry_after(std::string_view value, Clock::time_point now) {
  if (auto seconds = parse_digits(value, kMaxWaitSeconds)) {
    return now + std::chrono::seconds(*seconds);
  }
  if (auto at = parse_http_date(value)) return clamp_to_wait(*at, now);
  return std::nullopt;
}

// x-ratelimit-reset (GitHub, Gitea) or RateLimit-Reset (GitLab): Unix seconds.
std::optional<Clock::time_point> rate_limit_reset(const HttpResponse& response,
                                                  Clock::time_point now) {
  auto value = header(response, "x-ratelimit-reset");
  if (!value) value = header(response, "ratelimit-reset");
  if (!value) return std::nullopt;
  const std::int64_t cap = seconds_since_epoch(now) + kMaxWaitSeconds + 1;
  if (auto at = parse_digits(*value, cap)) return clamp_to_wait(*at, now);
  return std::nullopt;
}

bool limit_spent(const HttpResponse& response) {
  auto remaining = header(response, "x-ratelimit-remaining");
  if (!remaining) remaining = header(response, "ratelimit-remaining");
  return remaining && *remaining == "0";
}

}  // namespace

Verdict judge(const std::variant<HttpResponse, std::string>& answer, Clock::time_point now) {
  Verdict verdict;
  if (const auto* error = std::get_if<std::string>(&answer)) {
    verdict.kind = Verdict::Kind::retry;
    verdict.why = log_quote(*error);
    return verdict;
  }
  const auto& response = std::get<HttpResponse>(answer);
  const int status = response.status;
  verdict.http_status = status;
  verdict.why = "HTTP " + std::to_string(status) + ": " + log_quote(response.body);
  if (status >= 200 && status <= 299) {
    verdict.kind = Verdict::Kind::done;
    return verdict;
  }

  const auto retry_after_header = header(response, "retry-after");
  const bool spent = limit_spent(response);
  // GitHub answers a spent primary limit with 403 (or 429) and x-ratelimit-remaining: 0, a
  // secondary limit with 403 (or 429) and Retry-After; any other 403 is a permission the token
  // lacks, which waiting cannot fix.
  verdict.rate_limited = status == 429 || (status == 403 && (spent || retry_after_header));
  if (verdict.rate_limited || status == 408 || (status >= 500 && status <= 599)) {
    verdict.kind = Verdict::Kind::retry;
    // Retry-After first (the secondary limit's own word), then the reset of a spent limit.
    if (retry_after_header) verdict.not_before = retry_after(*retry_after_header, now);
    if (!verdict.not_before && (spent || status == 429)) {
      verdict.not_before = rate_limit_reset(response, now);
    }
    return verdict;
  }
  verdict.kind = Verdict::Kind::give_up;
  return verdict;
}

}  // namespace gitopsd::notifier
