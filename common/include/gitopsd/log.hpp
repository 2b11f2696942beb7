// Logging: one named spdlog logger per subsystem ("receiver", "kafka", "admin", ...),
// lines of `key=value` fields that always carry the event or delivery id.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace gitopsd {

// Sets the pattern and the level ("trace".."critical", "off") of every logger. Call once at start.
void init_logging(const std::string& level = "info");
// The named logger, created on first use; thread-safe.
std::shared_ptr<spdlog::logger> logger(const std::string& name);

}  // namespace gitopsd
