// Fuzz target: the receiver's streaming payload scan, which reads every body and is all
// normalize() sees of it. Beyond "no crash", it checks the scan against the full parse it
// stands in for: the same text is valid for both or for neither (same grammar, same depth
// limit), every scanned field holds what the parsed tree holds at its path (type and
// value, the last of duplicate keys winning), and however the text is cut into pieces the
// scan finds the same thing.
// Input: the provider and event (one byte), the piece sizes (one byte), then the JSON text.
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/json/parse.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "gitopsd/receiver/normalize.hpp"
#include "gitopsd/receiver/payload_scan.hpp"

namespace {

using namespace gitopsd;
using namespace gitopsd::receiver;

struct Kind {
  Provider provider;
  const char* event_type;
};
constexpr Kind kKinds[] = {
    {Provider::github, "push"},      {Provider::github, "pull_request"},
    {Provider::gitea, "push"},       {Provider::gitlab, "Push Hook"},
    {Provider::gitlab, "Merge Request Hook"}, {Provider::github, "ping"},
};

bool same(const ScannedValue& a, const ScannedValue& b) {
  return a.type == b.type && a.value == b.value && a.truncated == b.truncated &&
         a.boolean == b.boolean && a.integer == b.integer;
}

bool same(const PayloadScan& a, const PayloadScan& b) {
  if (a.status != b.status || !same(a.repository, b.repository) || !same(a.branch, b.branch) ||
      a.values.size() != b.values.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.values.size(); ++i) {
    if (!same(a.values[i], b.values[i])) return false;
  }
  return true;
}

// What the parsed tree holds at a dotted path, in the scan's terms.
ScannedValue at_path(const boost::json::value& root, std::string_view path) {
  const boost::json::value* v = &root;
  while (v != nullptr) {
    if (!v->is_object()) return {};
    const std::size_t dot = path.find('.');
    v = v->get_object().if_contains(path.substr(0, dot));
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  ScannedValue out;
  if (v == nullptr) return out;
  using Type = ScannedValue::Type;
  switch (v->kind()) {
    case boost::json::kind::null: out.type = Type::null; break;
    case boost::json::kind::bool_: out.type = Type::boolean; out.boolean = v->get_bool(); break;
    case boost::json::kind::int64: out.type = Type::integer; out.integer = v->get_int64(); break;
    case boost::json::kind::uint64: out.type = Type::big_integer; break;
    case boost::json::kind::double_: out.type = Type::number; break;
    case boost::json::kind::object: out.type = Type::object; break;
    case boost::json::kind::array: out.type = Type::array; break;
    case boost::json::kind::string: {
      const std::string_view s = v->get_string();
      out.type = Type::string;
      out.truncated = s.size() > kMaxScannedValueBytes;
      out.value = s.substr(0, kMaxScannedValueBytes);
      break;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const Kind kind = kKinds[input.ConsumeIntegralInRange<std::size_t>(0, std::size(kKinds) - 1)];
  const std::size_t piece_size = input.ConsumeIntegralInRange<std::size_t>(1, 64);
  const std::string text = input.ConsumeRemainingBytesAsString();

  const auto fields = normalize_fields(kind.provider, kind.event_type);
  const std::string_view whole[] = {text};
  const PayloadScan at_once = scan_payload(kind.provider, kind.event_type, whole, fields);
  std::vector<std::string_view> pieces;
  for (std::size_t at = 0; at < text.size(); at += piece_size) {
    pieces.push_back(std::string_view(text).substr(at, piece_size));
  }
  const PayloadScan in_pieces = scan_payload(kind.provider, kind.event_type, pieces, fields);
  if (!same(at_once, in_pieces)) std::abort();

  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(text, ec, {}, options);
  const bool scan_valid = at_once.status != PayloadScan::Status::invalid_json;
  if (scan_valid != !ec) std::abort();
  if (!ec && (at_once.status == PayloadScan::Status::ok) != parsed.is_object()) std::abort();
  for (const ScannedValue* v : {&at_once.repository, &at_once.branch}) {
    if (v->value.size() > kMaxScannedValueBytes) std::abort();
  }
  if (at_once.status == PayloadScan::Status::ok) {
    for (const std::string_view path : fields) {
      if (!same(at_once.field(path), at_path(parsed, path))) std::abort();
    }
  }
  return 0;
}
