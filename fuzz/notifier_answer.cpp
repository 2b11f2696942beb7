// Fuzz target: what gitopsd-notifier reads from outside. A Git host's or sink's answer goes to
// judge(): any status, any Retry-After / x-ratelimit-reset / RateLimit-Reset, any body; the
// verdict's wait is never more than a day ahead and its `why` stays one bounded line (the host's bytes escaped). A result's
// message goes into describe(): at most 140 characters of valid UTF-8 without control
// characters, whatever the bytes. Input: a status line, "name: value" header lines, a blank
// line, then the body (which is also the result's message).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gitopsd/log.hpp"
#include "gitopsd/notifier/commit_status.hpp"
#include "gitopsd/notifier/delivery.hpp"

namespace {

// Whether `s` is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s, std::size_t& code_points) {
  code_points = 0;
  for (std::size_t i = 0; i < s.size(); ++code_points) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) { n = 1; cp = c; }
    else if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
    else return false;
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return false;  // a control character
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gitopsd;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  HttpResponse response;
  std::size_t at = input.find('\n');
  const std::string_view status = input.substr(0, at);
  int code = 0;
  for (char c : status.substr(0, 3)) code = code * 10 + (c >= '0' && c <= '9' ? c - '0' : 0);
  response.status = code;
  while (at != std::string_view::npos) {
    const std::size_t next = input.find('\n', at + 1);
    const std::string_view line = input.substr(at + 1, next == std::string_view::npos ? next : next - at - 1);
    at = next;
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    response.headers[name] = std::string(value);
  }
  response.body = at == std::string_view::npos ? "" : std::string(input.substr(at + 1));

  const auto now = std::chrono::system_clock::now();
  const notifier::Verdict verdict = notifier::judge(response, now);
  if (verdict.not_before && *verdict.not_before > now + std::chrono::hours(24) + std::chrono::seconds(1)) {
    std::abort();
  }
  // log_quote: at most kLogValueMaxBytes of the body, each byte at most 4 escaped ("\xff").
  if (verdict.why.size() > 32 + 4 * kLogValueMaxBytes || verdict.why.find('\n') != std::string::npos) {
    std::abort();
  }
  (void)notifier::judge(std::string(input), now);  // a transport error's text

  Result result;
  result.status = ResultStatus::failed;
  result.message = response.body;
  const std::string description = notifier::describe(result);
  std::size_t code_points = 0;
  if (!valid_utf8(description, code_points) || code_points > notifier::kMaxDescription) std::abort();
  return 0;
}
