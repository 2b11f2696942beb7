#include "gitopsd/receiver/repository_scan.hpp"

#include <algorithm>
#include <array>
#include <boost/json/basic_parser_impl.hpp>
#include <vector>

namespace gitopsd::receiver {
namespace json = boost::json;

namespace {

constexpr std::string_view kBranchPrefix = "refs/heads/";
// The longest key on a scanned path is "path_with_namespace"; a longer key matches none.
constexpr std::size_t kMaxKeyBytes = 32;
constexpr std::size_t kMaxPathKeys = 3;

// A dotted path of object keys from the root ("repository.full_name"), split once.
struct Path {
  std::array<std::string_view, kMaxPathKeys> keys{};
  std::size_t size = 0;

  explicit Path(std::string_view dotted) {
    while (!dotted.empty() && size < kMaxPathKeys) {
      const std::size_t dot = dotted.find('.');
      keys[size++] = dotted.substr(0, dot);
      dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
    }
  }
};

// Where each provider's payloads keep the repository name and the branch. The same fields
// normalize() reads from the parsed payload once the signature has verified.
std::string_view repository_path(Provider provider) {
  return provider == Provider::gitlab ? "project.path_with_namespace" : "repository.full_name";
}
std::string_view branch_path(Provider provider, std::string_view event_type) {
  if (provider == Provider::gitlab) {
    if (event_type == "Push Hook") return "ref";
    if (event_type == "Merge Request Hook") return "object_attributes.target_branch";
    return {};
  }
  if (event_type == "push") return "ref";
  if (event_type == "pull_request") return "pull_request.base.ref";
  return {};
}

// One open object or array, with the key being read or last read when it is an object.
struct Level {
  bool object = false;
  std::array<char, kMaxKeyBytes> key{};
  std::size_t key_size = 0;  // kMaxKeyBytes + 1: longer than any scanned key
  bool key_done = true;      // the next key part starts a new key

  std::string_view key_view() const {
    return key_size > kMaxKeyBytes ? std::string_view() : std::string_view(key.data(), key_size);
  }
};

// A field looked for and what was found there.
struct Target {
  Path path;
  ScannedValue* found;
};

// Boost.JSON's SAX handler: follows the keys from the root and keeps only the strings found
// at the targets' paths.
class Handler {
 public:
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);

  Handler(Provider provider, std::string_view event_type) {
    levels_.reserve(kMaxJsonDepth + 1);
    targets_.push_back({Path(repository_path(provider)), &result_.repository});
    if (const std::string_view branch = branch_path(provider, event_type); !branch.empty()) {
      targets_.push_back({Path(branch), &result_.branch});
      branch_is_ref_ = branch == "ref";
    }
  }

  RepositoryScan result(bool valid) {
    result_.status = !valid          ? RepositoryScan::Status::invalid_json
                     : !root_object_ ? RepositoryScan::Status::not_object
                                     : RepositoryScan::Status::ok;
    if (result_.status != RepositoryScan::Status::ok) return RepositoryScan{result_.status, {}, {}};
    if (branch_is_ref_) {
      ScannedValue& branch = result_.branch;
      if (branch.value.starts_with(kBranchPrefix)) {
        branch.value.erase(0, kBranchPrefix.size());
      } else {
        branch = ScannedValue{};  // a tag, or no ref at all
      }
    }
    return std::move(result_);
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code&) {
    if (levels_.empty()) root_object_ = true;
    levels_.emplace_back().object = true;
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    levels_.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    levels_.emplace_back().object = false;
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    levels_.pop_back();
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    append_key(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    append_key(s);
    levels_.back().key_done = true;
    // A repeated key replaces the earlier value in the parsed payload (the last one wins),
    // so whatever was found under the earlier one no longer counts.
    for (Target& t : targets_) {
      if (under_current_key(t.path)) *t.found = ScannedValue{};
    }
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    append_string(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    append_string(s);
    string_target_ = nullptr;
    in_string_ = false;
    return true;
  }

  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  void append_key(json::string_view s) {
    Level& level = levels_.back();
    if (level.key_done) {
      level.key_size = 0;
      level.key_done = false;
    }
    if (level.key_size + s.size() > kMaxKeyBytes) {
      level.key_size = kMaxKeyBytes + 1;
      return;
    }
    std::copy(s.begin(), s.end(), level.key.begin() + static_cast<std::ptrdiff_t>(level.key_size));
    level.key_size += s.size();
  }

  // Whether the current position, down to the key just read, is `path` or a prefix of it.
  bool under_current_key(const Path& path) const {
    if (levels_.size() > path.size) return false;
    for (std::size_t i = 0; i < levels_.size(); ++i) {
      const Level& l = levels_[i];
      if (!l.object || l.key_size > kMaxKeyBytes || l.key_view() != path.keys[i]) return false;
    }
    return true;
  }

  void append_string(json::string_view s) {
    if (!in_string_) {
      in_string_ = true;
      string_target_ = nullptr;
      for (Target& t : targets_) {
        if (levels_.size() == t.path.size && under_current_key(t.path)) string_target_ = t.found;
      }
    }
    if (string_target_ == nullptr) return;
    std::string& value = string_target_->value;
    const std::size_t room = kMaxScannedValueBytes - value.size();
    if (s.size() > room) string_target_->truncated = true;
    value.append(s.data(), std::min(room, s.size()));
  }

  std::vector<Level> levels_;  // at most kMaxJsonDepth: the parser refuses deeper text
  std::vector<Target> targets_;
  bool branch_is_ref_ = false;
  bool root_object_ = false;
  bool in_string_ = false;
  ScannedValue* string_target_ = nullptr;  // where the string being read goes, if anywhere
  RepositoryScan result_;
};

json::parse_options scan_options() {
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  return options;
}

}  // namespace

struct RepositoryScanner::Impl {
  Impl(Provider provider, std::string_view event_type)
      : parser(scan_options(), provider, event_type) {}
  json::basic_parser<Handler> parser;
  bool failed = false;
};

RepositoryScanner::RepositoryScanner(Provider provider, std::string_view event_type)
    : impl_(std::make_unique<Impl>(provider, event_type)) {}

RepositoryScanner::~RepositoryScanner() = default;

bool RepositoryScanner::write(std::string_view piece) {
  if (impl_->failed || piece.empty()) return !impl_->failed;
  json::error_code ec;
  const std::size_t n = impl_->parser.write_some(true, piece.data(), piece.size(), ec);
  // Bytes left over follow a complete document: invalid, as for the full parse.
  if (ec || n < piece.size()) impl_->failed = true;
  return !impl_->failed;
}

RepositoryScan RepositoryScanner::finish() {
  if (!impl_->failed) {
    json::error_code ec;
    impl_->parser.write_some(false, nullptr, 0, ec);
    if (ec) impl_->failed = true;
  }
  return impl_->parser.handler().result(!impl_->failed);
}

RepositoryScan scan_repository(Provider provider, std::string_view event_type,
                               std::span<const std::string_view> pieces) {
  RepositoryScanner scanner(provider, event_type);
  for (const std::string_view piece : pieces) {
    if (!scanner.write(piece)) break;
  }
  return scanner.finish();
}

}  // namespace gitopsd::receiver
