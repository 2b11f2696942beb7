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

}  // namespace gitopsd
