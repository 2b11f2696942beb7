// The one pass over a webhook body. A streaming scan that validates the whole JSON text as a
// full parse would (same grammar, same depth limit, the last of duplicate keys wins) but
// builds no DOM: it keeps only the values at a fixed set of paths, each capped, whatever the
// body holds. Before any signature has verified, it says which configured repository the
// body is about: the repository name (GitHub/Gitea `repository.full_name`, GitLab
// `project.path_with_namespace`) and the branch (push `ref`, pull request base ref, merge
// request target branch). Once genuine, the same scan's fields are what normalize() reads,
// so a body is read once and never parsed into a tree.
// Pure, no I/O; one scanner per body, not shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd::receiver {

// Deeper JSON is refused: no host payload nests this far.
constexpr std::size_t kMaxJsonDepth = 64;
// A scanned string longer than this is kept cut here and marked `truncated`. Host limits keep
// every scanned field shorter (a pull request title is at most 256 characters).
constexpr std::size_t kMaxScannedValueBytes = 1024;

// The value found at one scanned path.
struct ScannedValue {
  enum class Type { absent, null, string, boolean, integer, big_integer, number, object, array };
  Type type = Type::absent;
  std::string value;       // a string's text, up to kMaxScannedValueBytes; else empty
  bool truncated = false;  // a string longer than kMaxScannedValueBytes: `value` is its beginning
  bool boolean = false;    // Type::boolean
  std::int64_t integer = 0;  // Type::integer (fits std::int64_t); big_integer does not
};

struct PayloadScan {
  enum class Status {
    ok,
    invalid_json,  // not JSON, or nested deeper than kMaxJsonDepth
    not_object,    // valid JSON whose root is not an object
  };
  Status status = Status::invalid_json;
  ScannedValue repository;  // the payload's repository name, when a string
  // The branch the event is about, without "refs/heads/"; empty for tags, pings and events
  // that are about no branch.
  ScannedValue branch;

  // The value at `path`, one of the scanner's `fields`. Asking for a path that was not
  // scanned is a programming error (std::logic_error), never a silent "absent".
  const ScannedValue& field(std::string_view path) const;

  std::vector<std::string_view> paths;  // the scanned `fields`, as given
  std::vector<ScannedValue> values;     // values[i] is at paths[i]
};

// Incremental form: write() the JSON text in pieces of any size, then finish().
class PayloadScanner {
 public:
  // `event_type` is the provider's event header value; it says where the branch is.
  // `fields` are further dotted paths ("pull_request.base.ref", at most 3 keys) whose values
  // to keep; the views must outlive the scan's result.
  PayloadScanner(Provider provider, std::string_view event_type,
                 std::span<const std::string_view> fields = {});
  ~PayloadScanner();
  PayloadScanner(const PayloadScanner&) = delete;
  PayloadScanner& operator=(const PayloadScanner&) = delete;

  // Scans the next piece. False once the text is known to be invalid; later pieces are ignored.
  bool write(std::string_view piece);
  // The text has ended; what was found. Call once.
  PayloadScan finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The whole scan over a JSON text given as consecutive pieces (one piece: the whole body).
PayloadScan scan_payload(Provider provider, std::string_view event_type,
                         std::span<const std::string_view> pieces,
                         std::span<const std::string_view> fields = {});

}  // namespace gitopsd::receiver
