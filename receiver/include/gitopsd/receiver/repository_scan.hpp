// The streaming scan that finds, before any signature has verified, which configured
// repository a webhook body is about: the repository name (GitHub/Gitea
// `repository.full_name`, GitLab `project.path_with_namespace`) and the branch (push `ref`,
// pull request base ref, merge request target branch), which picks among several entries for
// one host repository. It validates the whole JSON text as the full parse would (same grammar,
// same depth limit, the last of duplicate keys wins) but builds no DOM: its memory is a few
// capped strings and the parser's bounded stack, whatever the body holds. Pure, no I/O; one
// scanner per body, not shared between threads.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "gitopsd/config.hpp"

namespace gitopsd::receiver {

// Deeper JSON is refused: no host payload nests this far. Shared with the full parse.
constexpr std::size_t kMaxJsonDepth = 64;
// A scanned name longer than this is kept cut here and marked `truncated`.
constexpr std::size_t kMaxScannedValueBytes = 1024;

// A string field the scan looked for: its value, up to kMaxScannedValueBytes.
struct ScannedValue {
  std::string value;       // empty when absent, null or not a string
  bool truncated = false;  // longer than kMaxScannedValueBytes: `value` is its beginning
};

struct RepositoryScan {
  enum class Status {
    ok,
    invalid_json,  // not JSON, or nested deeper than kMaxJsonDepth
    not_object,    // valid JSON whose root is not an object
  };
  Status status = Status::invalid_json;
  ScannedValue repository;  // the payload's repository name
  // The branch the event is about, without "refs/heads/"; empty for tags, pings and events
  // that are about no branch.
  ScannedValue branch;
};

// Incremental form: write() the JSON text in pieces of any size, then finish().
class RepositoryScanner {
 public:
  // `event_type` is the provider's event header value; it says where the branch is.
  RepositoryScanner(Provider provider, std::string_view event_type);
  ~RepositoryScanner();
  RepositoryScanner(const RepositoryScanner&) = delete;
  RepositoryScanner& operator=(const RepositoryScanner&) = delete;

  // Scans the next piece. False once the text is known to be invalid; later pieces are ignored.
  bool write(std::string_view piece);
  // The text has ended; what was found. Call once.
  RepositoryScan finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The whole scan over a JSON text given as consecutive pieces (one piece: the whole body).
RepositoryScan scan_repository(Provider provider, std::string_view event_type,
                               std::span<const std::string_view> pieces);

}  // namespace gitopsd::receiver
