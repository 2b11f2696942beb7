// Logging: one named spdlog logger per subsystem ("receiver", "kafka", "admin", ...),
// lines of `key=value` fields that always carry the event or delivery id.
#pragma once

#include <spdlog/spdlog.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace gitopsd {

// Sets the pattern and the level ("trace".."critical", "off") of every logger. Call once at start.
void init_logging(const std::string& level = "info");
// The named logger, created on first use; thread-safe.
std::shared_ptr<spdlog::logger> logger(const std::string& name);

// How many bytes of a value log_quote keeps.
constexpr std::size_t kLogValueMaxBytes = 200;

// A value from outside (a header, a payload field) as one quoted log field that cannot forge
// another: `"` and `\` are escaped with `\`, every other byte outside printable ASCII becomes
// `\xNN`, and a value longer than kLogValueMaxBytes is cut there and ends in `…` inside the
// quotes (unambiguous: a raw `…` is non-ASCII, so it never survives from the value).
std::string log_quote(std::string_view value);

}  // namespace gitopsd
