// Creating entries in dest's directories: under a fresh temporary name, and as the tree says (a
// file written from its blob, or a symlink). Both switch modes stage their entries with these.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "files_tree.hpp"

namespace gitopsd::worker {

// Creates an entry under a fresh name `prefix`... with `create`, which returns an errno
// (EEXIST: try another name); returns the name, or "" with `err` set.
std::string create_temp(const std::function<int(const std::string&)>& create, int& err,
                        const std::string& prefix = ".gitopsd-tmp-");

// Creates `name` in `dir_fd` as `file` says (it must not exist yet), on disk when `durable`
// (else the caller syncs); nullopt or why not.
std::optional<Problem> create_entry(int dir_fd, const std::string& name, const TreeFile& file,
                                    const DesiredTree& tree, const BlobSource& blobs,
                                    const FilesOptions& options, bool durable = true);

}  // namespace gitopsd::worker
