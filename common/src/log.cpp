#include "gitopsd/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace gitopsd {
namespace {
std::mutex g_mutex;
}

void init_logging(const std::string& level) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %n: %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(level));
}

std::shared_ptr<spdlog::logger> logger(const std::string& name) {
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(name)) return existing;
  // stderr: journald captures it; stdout stays free for command output.
  auto created = spdlog::stderr_logger_mt(name);
  return created;
}

std::string log_quote(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool cut = value.size() > kLogValueMaxBytes;
  if (cut) value = value.substr(0, kLogValueMaxBytes);
  std::string out = "\"";
  for (const char c : value) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (b < 0x20 || b > 0x7e) {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    } else {
      out += c;
    }
  }
  if (cut) out += "\u2026";
  out += '"';
  return out;
}

}  // namespace gitopsd
