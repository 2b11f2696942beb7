// Helpers for reading and checking the JSON records gitopsd puts on its topics (events,
// results, state). Private to the common library.
#pragma once

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace gitopsd::json_fields {
namespace json = boost::json;

inline bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

inline bool is_commit(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), is_lower_hex);
}

inline bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_lower_hex(s[i])) return false;
  }
  return true;
}

// "YYYY-MM-DDTHH:MM:SS.mmmZ", the one form format_timestamp produces.
inline bool is_timestamp(std::string_view s) {
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (kShape[i] == 'd' ? !is_digit(s[i]) : s[i] != kShape[i]) return false;
  }
  return true;
}

template <class Set>
bool one_of(std::string_view s, const Set& set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

// Reads fields of one object, remembering the first problem.
class Reader {
 public:
  Reader(const json::object& obj, std::string prefix, std::string_view schema)
      : obj_(obj), prefix_(std::move(prefix)), schema_(schema) {}

  std::string str(std::string_view key) {
    const json::value* v = get(key);
    if (v == nullptr) return {};
    if (v->is_string()) return std::string(v->get_string());
    fail(key, "is not a string");
    return {};
  }
  bool boolean(std::string_view key) {
    const json::value* v = get(key);
    if (v == nullptr) return false;
    if (v->is_bool()) return v->get_bool();
    fail(key, "is not a boolean");
    return false;
  }
  std::int64_t integer(std::string_view key) {
    const json::value* v = get(key);
    if (v == nullptr) return 0;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() &&
        v->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(v->get_uint64());
    }
    fail(key, "is not an integer");
    return 0;
  }
  // Checks a value already read; `what` completes "field 'x' ...".
  void check(bool ok, std::string_view key, std::string_view what) {
    if (!ok) fail(key, what);
  }
  void reject_unknown(const auto& known) {
    for (const auto& kv : obj_) {
      if (!one_of(kv.key(), known)) fail(kv.key(), "is not part of " + std::string(schema_));
    }
  }
  const json::value* get(std::string_view key) {
    const json::value* v = obj_.if_contains(key);
    if (v == nullptr) fail(key, "missing");
    return v;
  }
  std::string& error() { return error_; }

 private:
  void fail(std::string_view key, std::string_view what) {
    if (error_.empty()) error_ = "field '" + prefix_ + std::string(key) + "' " + std::string(what);
  }

  const json::object& obj_;
  std::string prefix_;
  std::string_view schema_;
  std::string error_;
};

}  // namespace gitopsd::json_fields
