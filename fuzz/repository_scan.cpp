// Fuzz target: the receiver's streaming repository scan, which reads every unauthenticated
// body. Beyond "no crash", it checks the scan against the full parse it stands in for: the
// same text is valid for both or for neither (same grammar, same depth limit), and however
// the text is cut into pieces the scan finds the same thing.
// Input: the provider and event (one byte), the piece sizes (one byte), then the JSON text.
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/json/parse.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "gitopsd/receiver/repository_scan.hpp"

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

bool same(const RepositoryScan& a, const RepositoryScan& b) {
  return a.status == b.status && a.repository.value == b.repository.value &&
         a.repository.truncated == b.repository.truncated && a.branch.value == b.branch.value &&
         a.branch.truncated == b.branch.truncated;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const Kind kind = kKinds[input.ConsumeIntegralInRange<std::size_t>(0, std::size(kKinds) - 1)];
  const std::size_t piece_size = input.ConsumeIntegralInRange<std::size_t>(1, 64);
  const std::string text = input.ConsumeRemainingBytesAsString();

  const std::string_view whole[] = {text};
  const RepositoryScan at_once = scan_repository(kind.provider, kind.event_type, whole);
  std::vector<std::string_view> pieces;
  for (std::size_t at = 0; at < text.size(); at += piece_size) {
    pieces.push_back(std::string_view(text).substr(at, piece_size));
  }
  const RepositoryScan in_pieces = scan_repository(kind.provider, kind.event_type, pieces);
  if (!same(at_once, in_pieces)) std::abort();

  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(text, ec, {}, options);
  const bool scan_valid = at_once.status != RepositoryScan::Status::invalid_json;
  if (scan_valid != !ec) std::abort();
  if (!ec && (at_once.status == RepositoryScan::Status::ok) != parsed.is_object()) std::abort();
  for (const ScannedValue* v : {&at_once.repository, &at_once.branch}) {
    if (v->value.size() > kMaxScannedValueBytes) std::abort();
  }
  return 0;
}
