// What one HTTP try of a commit status or a notification came to, judged the same way for
// every Git host API and sink: done, try again (not before a time the host may name), or
// give up (a bad token, a repository that does not exist: trying again cannot help).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gitopsd/http_client.hpp"

namespace gitopsd::notifier {

// The User-Agent of every request the notifier sends (GitHub refuses a request without one).
inline constexpr std::string_view kUserAgent = "gitopsd-notifier";

struct Verdict {
  enum class Kind { done, retry, give_up };
  Kind kind = Kind::done;
  int http_status = 0;  // 0 when no answer came (connect refused, timeout)
  // The host's own word on when to come back: Retry-After (seconds or an HTTP date), or the
  // rate-limit reset (x-ratelimit-reset / RateLimit-Reset, Unix seconds) when the limit is
  // spent. nullopt: the caller's backoff decides.
  std::optional<std::chrono::system_clock::time_point> not_before;
  bool rate_limited = false;  // 429, or 403 with the limit spent / a Retry-After
  // For the log and the status record, one line, bounded (log_quote: at most 200 bytes of the
  // host's answer or the client's error, quoted, control characters escaped):
  // `HTTP 401: "{\"message\":\"Bad credentials\"}"`, `"connect to …: Connection refused"`.
  // Never a request header, so never the token.
  std::string why;
};

// 2xx: done. 429, 403 with `x-ratelimit-remaining: 0` or a Retry-After: retry (rate limited).
// 408, 5xx and no answer: retry. Any other answer (400, 401, 403, 404, 422, 3xx…): give up.
// not_before: Retry-After (delta-seconds or an HTTP-date, on any retry) first, else the reset of
// a spent limit (x-ratelimit-reset / RateLimit-Reset on a rate-limited answer). A time already
// past counts as `now`; one more than a day ahead as a day ahead; an unreadable one as none.
// Pure and thread-safe.
Verdict judge(const std::variant<HttpResponse, std::string>& answer,
              std::chrono::system_clock::time_point now);

}  // namespace gitopsd::notifier
