// The desired tree of a `files` apply: the commit's paths, each checked (relative, inside dest,
// no .git component), and its symlinks, each target read and checked to resolve inside dest.
// Built before anything in dest is read or written: a Problem from here refuses the tree.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "gitopsd/worker/files_sync.hpp"

namespace gitopsd::worker {

// Why an apply failed. `refused`: the commit's tree itself is at fault (FilesOutcome::refused).
struct Problem {
  // Implicit: most failures are of the moment, and are written as their message alone.
  Problem(std::string why, bool tree_refused = false)
      : message(std::move(why)), refused(tree_refused) {}
  std::string message;
  bool refused = false;
};

// What `files` asks for, checked: every path relative and inside, every symlink target read
// and resolving inside the tree root. Looked up by binary search in path order, so an
// incremental apply costs a pass over the list, not a map of it.
struct DesiredTree {
  std::vector<const TreeFile*> files;               // sorted by path, no two alike
  std::map<std::string, std::string> link_targets;  // symlink path -> target

  std::vector<const TreeFile*>::const_iterator first_not_before(std::string_view path) const {
    return std::lower_bound(
        files.begin(), files.end(), path,
        [](const TreeFile* file, std::string_view p) { return file->path < p; });
  }
  const TreeFile* find(std::string_view path) const {
    const auto it = first_not_before(path);
    return it != files.end() && (*it)->path == path ? *it : nullptr;
  }
  // True when a file lies under `path`: it is one of the tree's directories.
  bool has_dir(std::string_view path) const {
    std::string prefix(path);
    prefix.push_back('/');
    const auto it = first_not_before(prefix);
    return it != files.end() && (*it)->path.starts_with(prefix);
  }
};

// Fills `tree` or returns why the whole apply is refused. Reads the symlinks' blobs (their
// targets); no other blob.
std::optional<Problem> build_desired(const std::vector<TreeFile>& files, const BlobSource& blobs,
                                     const FilesOptions& options, DesiredTree& tree);

// The blob of `file`, refused before it is read when it is over the limit.
std::variant<BlobData, Problem> read_blob_of(const TreeFile& file, const BlobSource& blobs,
                                             std::uint64_t max_bytes);

inline mode_t mode_for(FileKind kind) { return kind == FileKind::executable ? 0755 : 0644; }

// The tree path of `name` in the directory `prefix` ("" = the root).
inline std::string child_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

}  // namespace gitopsd::worker
