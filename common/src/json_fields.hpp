// Writing and reading the JSON records gitopsd puts on its topics (events, results, state).
// A record's fields are its members described with BOOST_DESCRIBE_STRUCT, in the contract's
// order; what is left to each record is its validation. Private to the common library.
#pragma once

#include <algorithm>
#include <boost/describe/members.hpp>
#include <boost/json.hpp>
#include <boost/mp11/algorithm.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "gitopsd/enum_names.hpp"

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

// The members of a record that may be absent from its JSON: written only when not empty, read
// as empty when absent. Every other member is always written and required.
using Optional = std::span<const std::string_view>;

inline bool contains(Optional names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

template <class T>
using Members = boost::describe::describe_members<T, boost::describe::mod_public>;

// Calls f(name, member) for every described member of `record`, in declaration order.
template <class T, class F>
void for_each_member(T& record, F&& f) {
  boost::mp11::mp_for_each<Members<std::remove_const_t<T>>>(
      [&](auto D) { f(std::string_view(D.name), record.*D.pointer); });
}

template <class T>
bool is_empty(const T& member) {
  if constexpr (requires { member.has_value(); }) {
    return !member.has_value();
  } else if constexpr (requires { member.empty(); }) {
    return member.empty();
  } else {
    return false;
  }
}

// Adds {"schema": schema (unless empty), then every member in order} to `obj`.
template <class T>
void write_fields(json::object& obj, std::string_view schema, const T& record,
                  Optional optional = {}) {
  obj.reserve(boost::mp11::mp_size<Members<T>>::value + 1);
  if (!schema.empty()) obj.emplace("schema", schema);
  for_each_member(record, [&](std::string_view name, const auto& member) {
    if (contains(optional, name) && is_empty(member)) return;
    obj.emplace(name, json::value_from(member, obj.storage()));
  });
}

// The record's text. Its DOM lives in a stack buffer: the receiver writes an event per
// webhook, and only the returned text is allocated.
template <class T>
std::string write_record(std::string_view schema, const T& record, Optional optional = {}) {
  unsigned char buffer[4096];
  json::monotonic_resource resource(buffer, sizeof buffer);
  json::object obj(&resource);
  write_fields(obj, schema, record, optional);
  return json::serialize(obj);
}

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// Reads the fields of one object into a described record, remembering the first problem
// ("field 'merge_request.author' missing").
class Reader {
 public:
  Reader(const json::object& obj, std::string prefix, std::string_view schema)
      : obj_(obj), prefix_(std::move(prefix)), schema_(schema) {}

  // Refuses fields that are not members (a record's own "schema" aside), then reads each
  // member from the field of its name.
  template <class T>
  void read_members(T& record, Optional optional = {}) {
    for (const auto& kv : obj_) {
      bool known = prefix_.empty() && kv.key() == "schema";
      for_each_member(record, [&](std::string_view name, const auto&) {
        known = known || name == kv.key();
      });
      if (!known) fail(kv.key(), "is not part of " + std::string(schema_));
    }
    for_each_member(record, [&](std::string_view name, auto& member) {
      const bool may_be_absent = contains(optional, name);
      const json::value* v = obj_.if_contains(name);
      if (v == nullptr) {
        if (!may_be_absent) fail(name, "missing");
      } else if constexpr (is_optional<std::remove_reference_t<decltype(member)>>::value) {
        read_object(name, *v, member, /*nullable=*/!may_be_absent);
      } else {
        read(name, *v, member);
      }
    });
  }

  // Checks a value already read; `what` completes "field 'x' ...".
  void check(bool ok, std::string_view key, std::string_view what) {
    if (!ok) fail(key, what);
  }
  std::string& error() { return error_; }

 private:
  void read(std::string_view key, const json::value& v, std::string& out) {
    if (v.is_string()) {
      out = v.get_string();
    } else {
      fail(key, "is not a string");
    }
  }
  void read(std::string_view key, const json::value& v, bool& out) {
    if (v.is_bool()) {
      out = v.get_bool();
    } else {
      fail(key, "is not a boolean");
    }
  }
  void read(std::string_view key, const json::value& v, std::int64_t& out) {
    if (v.is_int64()) {
      out = v.get_int64();
    } else if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(
                                                       std::numeric_limits<std::int64_t>::max())) {
      out = static_cast<std::int64_t>(v.get_uint64());
    } else {
      fail(key, "is not an integer");
    }
  }
  template <DescribedEnum E>
  void read(std::string_view key, const json::value& v, E& out) {
    if (!v.is_string()) return fail(key, "is not a string");
    if (const std::optional<E> e = enum_from_name<E>(v.get_string())) {
      out = *e;
    } else {
      fail(key, "is not " + enum_names<E>());
    }
  }
  void read(std::string_view key, const json::value& v, std::vector<std::string>& out) {
    if (!v.is_array()) return fail(key, "is not an array");
    for (const json::value& element : v.get_array()) {
      if (!element.is_string()) return fail(key, "has an element that is not a string");
      out.emplace_back(element.get_string());
    }
  }
  // A described record inside this one; null reads as absent where `nullable`.
  template <class T>
  void read_object(std::string_view key, const json::value& v, std::optional<T>& out,
                   bool nullable) {
    if (nullable && v.is_null()) return;
    if (!v.is_object())
      return fail(key, nullable ? "is not an object or null" : "is not an object");
    Reader nested(v.get_object(), prefix_ + std::string(key) + ".", schema_);
    T value;
    nested.read_members(value);
    if (!nested.error_.empty()) {
      if (error_.empty()) error_ = std::move(nested.error_);
      return;
    }
    out = std::move(value);
  }

  void fail(std::string_view key, std::string_view what) {
    if (error_.empty()) error_ = "field '" + prefix_ + std::string(key) + "' " + std::string(what);
  }

  const json::object& obj_;
  std::string prefix_;
  std::string_view schema_;
  std::string error_;
};

// Parses `text` as a record of `schema`, then lets `validate(record, reader, object)` check
// what the types do not say; on failure returns the first reason.
template <class T, class Validate>
std::variant<T, std::string> read_record(std::string_view text, std::string_view schema,
                                         Optional optional, Validate validate) {
  boost::system::error_code ec;
  const json::value root = json::parse(text, ec);
  if (ec) return "not valid JSON: " + ec.message();
  if (!root.is_object()) return std::string("not a JSON object");
  const json::object& obj = root.get_object();
  const json::value* name = obj.if_contains("schema");
  if (name == nullptr) return std::string("field 'schema' missing");
  if (!name->is_string()) return std::string("field 'schema' is not a string");
  // Checked first: another schema's value is refused for that, not for its fields.
  if (name->get_string() != schema)
    return "schema is '" + std::string(name->get_string()) + "', not " + std::string(schema);

  Reader reader(obj, "", schema);
  T record;
  reader.read_members(record, optional);
  if (reader.error().empty()) validate(record, reader, obj);
  if (!reader.error().empty()) return std::move(reader.error());
  return record;
}

}  // namespace gitopsd::json_fields
