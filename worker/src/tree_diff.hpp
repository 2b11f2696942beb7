// Which blobs differ between two git trees, descending only into subtrees whose ids differ.
#pragma once

#include <git2.h>

#include <string>
#include <vector>

namespace gitopsd::worker {

// Appends to `out` the paths (under `prefix`, '/'-separated) of the blobs added, removed or
// changed in content or mode between `a` and `b`; either may be null, and then every blob of
// the other differs. Submodules are skipped. False (libgit2's error set) when a subtree
// cannot be read. Unsorted, and a path may appear twice.
bool diff_trees(git_repository* repo, const git_tree* a, const git_tree* b,
                const std::string& prefix, std::vector<std::string>& out);

}  // namespace gitopsd::worker
