// What the operator commands (status, events, dlq, init-topics) share for printing: a plain
// text table, times and ages. Pure functions, no I/O besides the stream given.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace gitopsd::ctl {

// Columns padded to their widest cell, two spaces apart; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::size_t size() const { return rows_.size() - 1; }  // without the header
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Unix milliseconds of "YYYY-MM-DDTHH:MM:SS.mmmZ" (format_timestamp's form); nullopt otherwise.
std::optional<std::int64_t> parse_timestamp_ms(std::string_view text);

std::int64_t now_ms();

// "45s", "12m", "3h", "5d": a coarse age for tables.
std::string format_age(std::int64_t ms);

// "2026-11-23 13:00:05" (UTC, to the second) of a format_timestamp string, else unchanged.
std::string short_time(const std::string& timestamp);

// At most `width` characters, on one line ("..." when cut).
std::string one_line(std::string_view text, std::size_t width);

}  // namespace gitopsd::ctl
