#include "gitopsd/receiver/payload_scan.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <boost/json/basic_parser_impl.hpp>
#include <stdexcept>
#include <vector>

namespace gitopsd::receiver {
namespace json = boost::json;

namespace {

constexpr std::string_view kBranchPrefix = "refs/heads/";
// The longest key on a scanned path is "path_with_namespace"; a longer key matches none.
constexpr std::size_t kMaxKeyBytes = 32;
// The deepest scanned path is "pull_request.merged_by.login".
constexpr std::size_t kMaxPathKeys = 3;

// A dotted path of object keys from the root ("repository.full_name"), split once.
struct Path {
  std::array<std::string_view, kMaxPathKeys> keys{};
  std::size_t size = 0;

  explicit Path(std::string_view dotted) {
    while (!dotted.empty()) {
      const std::size_t dot = dotted.find('.');
      if (size == kMaxPathKeys || std::min(dot, dotted.size()) > kMaxKeyBytes) {
        throw std::logic_error("scanned path too deep or key too long");
      }
      keys[size++] = dotted.substr(0, dot);
      dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
    }
  }
};

// Where each provider's payloads keep the repository name and the branch.
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
  // The targets whose path runs through this level's current key (bit i: target i); set
  // when the key is complete. Always 0 for an array: no scanned path runs through one.
  std::uint32_t through = 0;
  std::array<char, kMaxKeyBytes> key{};
  std::size_t key_size = 0;  // kMaxKeyBytes + 1: longer than any scanned key
  bool key_done = true;      // the next key part starts a new key

  std::string_view key_view() const {
    return key_size > kMaxKeyBytes ? std::string_view() : std::string_view(key.data(), key_size);
  }
};

// Boost.JSON's SAX handler: follows the keys from the root and keeps only the values found
// at the targets' paths.
class Handler {
 public:
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);

  Handler(Provider provider, std::string_view event_type, std::span<const std::string_view> fields) {
    levels_.reserve(kMaxJsonDepth + 1);
    paths_.reserve(kMaxTargets);
    values_.reserve(kMaxTargets);  // string_target_ points into it
    repository_ = add_target(repository_path(provider));
    if (const std::string_view branch = branch_path(provider, event_type); !branch.empty()) {
      branch_ = add_target(branch);
      branch_is_ref_ = branch == "ref";
    }
    fields_.reserve(fields.size());
    for (const std::string_view f : fields) fields_.push_back(add_target(f));
  }

  PayloadScan result(bool valid, std::span<const std::string_view> fields) {
    PayloadScan scan;
    scan.status = !valid          ? PayloadScan::Status::invalid_json
                  : !root_object_ ? PayloadScan::Status::not_object
                                  : PayloadScan::Status::ok;
    if (scan.status != PayloadScan::Status::ok) return scan;
    scan.repository = values_[repository_];
    if (branch_ != kNone) {
      scan.branch = values_[branch_];
      if (branch_is_ref_) {
        if (scan.branch.value.starts_with(kBranchPrefix)) {
          scan.branch.value.erase(0, kBranchPrefix.size());
        } else {
          scan.branch = ScannedValue{};  // a tag, or no ref at all
        }
      }
    }
    scan.paths.assign(fields.begin(), fields.end());
    for (const std::size_t t : fields_) scan.values.push_back(values_[t]);
    return scan;
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code&) {
    if (levels_.empty()) root_object_ = true;
    set(ScannedValue::Type::object);
    levels_.emplace_back().object = true;
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    levels_.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    set(ScannedValue::Type::array);
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
    Level& level = levels_.back();
    level.key_done = true;
    const std::size_t depth = levels_.size() - 1;
    const std::uint32_t parent = depth == 0 ? all_targets_ : levels_[depth - 1].through;
    level.through = 0;
    if (level.key_size <= kMaxKeyBytes) {
      for (std::uint32_t m = parent; m != 0; m &= m - 1) {
        const int t = std::countr_zero(m);
        if (paths_[t].size > depth && paths_[t].keys[depth] == level.key_view()) {
          level.through |= std::uint32_t{1} << t;
          // A repeated key replaces the earlier value (the last one wins), so whatever was
          // found under the earlier one no longer counts.
          values_[t] = ScannedValue{};
        }
      }
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
  bool on_int64(std::int64_t v, json::string_view, json::error_code&) {
    if (ScannedValue* found = set(ScannedValue::Type::integer)) found->integer = v;
    return true;
  }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) {
    set(ScannedValue::Type::big_integer);  // beyond std::int64_t: the parser tried that first
    return true;
  }
  bool on_double(double, json::string_view, json::error_code&) {
    set(ScannedValue::Type::number);
    return true;
  }
  bool on_bool(bool v, json::error_code&) {
    if (ScannedValue* found = set(ScannedValue::Type::boolean)) found->boolean = v;
    return true;
  }
  bool on_null(json::error_code&) {
    set(ScannedValue::Type::null);
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  static constexpr std::size_t kNone = std::size_t(-1);
  static constexpr std::size_t kMaxTargets = 32;  // bits of Level::through

  // The target for `dotted`, added unless one has that path already.
  std::size_t add_target(std::string_view dotted) {
    const Path path(dotted);
    for (std::size_t t = 0; t < paths_.size(); ++t) {
      if (paths_[t].size == path.size && paths_[t].keys == path.keys) return t;
    }
    if (paths_.size() == kMaxTargets) throw std::logic_error("too many scanned fields");
    paths_.push_back(path);
    values_.emplace_back();
    all_targets_ |= std::uint32_t{1} << (paths_.size() - 1);
    return paths_.size() - 1;
  }

  // The target whose path ends at the current key, if any.
  ScannedValue* at_current_key() {
    if (levels_.empty()) return nullptr;  // the root value has no key
    const Level& level = levels_.back();
    for (std::uint32_t m = level.through; m != 0; m &= m - 1) {
      const int t = std::countr_zero(m);
      if (paths_[t].size == levels_.size()) return &values_[t];
    }
    return nullptr;
  }

  // Records a value of `type` at the current key when a target is there; that target.
  ScannedValue* set(ScannedValue::Type type) {
    ScannedValue* found = at_current_key();
    if (found != nullptr) {
      *found = ScannedValue{};
      found->type = type;
    }
    return found;
  }

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

  void append_string(json::string_view s) {
    if (!in_string_) {
      in_string_ = true;
      string_target_ = set(ScannedValue::Type::string);
    }
    if (string_target_ == nullptr) return;
    std::string& value = string_target_->value;
    const std::size_t room = kMaxScannedValueBytes - value.size();
    if (s.size() > room) string_target_->truncated = true;
    value.append(s.data(), std::min(room, s.size()));
  }

  std::vector<Level> levels_;  // at most kMaxJsonDepth: the parser refuses deeper text
  std::vector<Path> paths_;    // the targets; values_[i] is what was found at paths_[i]
  std::vector<ScannedValue> values_;
  std::uint32_t all_targets_ = 0;
  std::size_t repository_ = kNone;
  std::size_t branch_ = kNone;
  std::vector<std::size_t> fields_;  // the target of each requested field, in order
  bool branch_is_ref_ = false;
  bool root_object_ = false;
  bool in_string_ = false;
  ScannedValue* string_target_ = nullptr;  // where the string being read goes, if anywhere
};

json::parse_options scan_options() {
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  return options;
}

}  // namespace

struct PayloadScanner::Impl {
  Impl(Provider provider, std::string_view event_type, std::span<const std::string_view> wanted)
      : parser(scan_options(), provider, event_type, wanted), fields(wanted) {}
  json::basic_parser<Handler> parser;
  std::span<const std::string_view> fields;
  bool failed = false;
};

PayloadScanner::PayloadScanner(Provider provider, std::string_view event_type,
                               std::span<const std::string_view> fields)
    : impl_(std::make_unique<Impl>(provider, event_type, fields)) {}

PayloadScanner::~PayloadScanner() = default;

bool PayloadScanner::write(std::string_view piece) {
  if (impl_->failed || piece.empty()) return !impl_->failed;
  json::error_code ec;
  const std::size_t n = impl_->parser.write_some(true, piece.data(), piece.size(), ec);
  // Bytes left over follow a complete document: invalid, as for the full parse.
  if (ec || n < piece.size()) impl_->failed = true;
  return !impl_->failed;
}

PayloadScan PayloadScanner::finish() {
  if (!impl_->failed) {
    json::error_code ec;
    impl_->parser.write_some(false, nullptr, 0, ec);
    if (ec) impl_->failed = true;
  }
  return impl_->parser.handler().result(!impl_->failed, impl_->fields);
}

const ScannedValue& PayloadScan::field(std::string_view path) const {
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (paths[i] == path) return values[i];
  }
  throw std::logic_error("payload field " + std::string(path) + " was not scanned");
}

PayloadScan scan_payload(Provider provider, std::string_view event_type,
                         std::span<const std::string_view> pieces,
                         std::span<const std::string_view> fields) {
  PayloadScanner scanner(provider, event_type, fields);
  for (const std::string_view piece : pieces) {
    if (!scanner.write(piece)) break;
  }
  return scanner.finish();
}

}  // namespace gitopsd::receiver
