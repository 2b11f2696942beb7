// Reading dest, never following a symlink in it: opening its directories, comparing an entry
// with the tree by git blob id and mode (so no blob is read for a file already right), and the
// walk of all of it that finds what an apply changes. The drift check is this read alone.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "files_tree.hpp"
#include "posix_helpers.hpp"

namespace gitopsd::worker {

enum class EntryState { right, mode_only, wrong };

// How the entry `name` in `parent` (lstat'ed as `st`) compares with `file`.
EntryState compare_entry(int parent, const std::string& name, const struct stat& st,
                         const TreeFile& file, const DesiredTree& tree);

// Opens the existing directories root, parts[0], ... parts[count-1] without creating or
// following anything; stops at the first that is missing (the result is then shorter).
std::vector<Fd> open_existing(int root, const std::vector<std::string>& parts, std::size_t count);

// The directory `dir` ('/'-separated, "" = root) under `root`, or an invalid Fd.
Fd open_dir_path(int root, const std::string& dir);

// What dest holds compared with the tree, found by walking all of it.
struct Walk {
  const DesiredTree& tree;
  std::map<std::string, EntryState> present;  // desired files found in dest
  std::vector<std::string> unwanted;  // neither a file nor a directory of the tree: deleted last
  std::size_t removed = 0;            // entries the apply deletes (also those in the way)
  std::string error;
};

// Walks the directory `dir_fd` (the tree path `prefix`, "" = dest) and everything under it
// into `walk`; false, with walk.error set, when a part of dest cannot be read.
bool walk_dest(int dir_fd, const std::string& prefix, Walk& walk);

}  // namespace gitopsd::worker
