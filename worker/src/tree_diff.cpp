#include "tree_diff.hpp"

#include "libgit2_support.hpp"

namespace gitopsd::worker {
namespace {

bool is_blob(git_filemode_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE ||
         mode == GIT_FILEMODE_LINK;
}

}  // namespace

bool diff_trees(git_repository* repo, const git_tree* a, const git_tree* b,
                const std::string& prefix, std::vector<std::string>& out) {
  auto sub = [repo](const git_tree_entry* e) {
    git_tree* raw = nullptr;
    if (git_tree_lookup(&raw, repo, git_tree_entry_id(e)) != 0) return TreePtr(nullptr);
    return TreePtr(raw);
  };
  // One side of an entry that is not matched by an equal entry on the other side.
  auto one_side = [&](const git_tree_entry* e, bool a_side) {
    const std::string path = prefix + git_tree_entry_name(e);
    const git_filemode_t mode = git_tree_entry_filemode(e);
    if (is_blob(mode)) {
      out.push_back(path);
      return true;
    }
    if (mode != GIT_FILEMODE_TREE) return true;  // submodules are not materialized
    auto tree = sub(e);
    if (!tree) return false;
    return a_side ? diff_trees(repo, tree.get(), nullptr, path + "/", out)
                  : diff_trees(repo, nullptr, tree.get(), path + "/", out);
  };
  const std::size_t a_count = a ? git_tree_entrycount(a) : 0;
  for (std::size_t i = 0; i < a_count; ++i) {
    const git_tree_entry* ea = git_tree_entry_byindex(a, i);
    const git_tree_entry* eb = b ? git_tree_entry_byname(b, git_tree_entry_name(ea)) : nullptr;
    if (eb != nullptr && git_tree_entry_filemode(ea) == git_tree_entry_filemode(eb) &&
        git_oid_equal(git_tree_entry_id(ea), git_tree_entry_id(eb)) != 0)
      continue;
    if (eb != nullptr && git_tree_entry_filemode(ea) == GIT_FILEMODE_TREE &&
        git_tree_entry_filemode(eb) == GIT_FILEMODE_TREE) {
      auto ta = sub(ea);
      auto tb = sub(eb);
      if (!ta || !tb) return false;
      if (!diff_trees(repo, ta.get(), tb.get(), prefix + git_tree_entry_name(ea) + "/", out))
        return false;
      continue;
    }
    if (!one_side(ea, true)) return false;
    if (eb != nullptr && !one_side(eb, false)) return false;
  }
  const std::size_t b_count = b ? git_tree_entrycount(b) : 0;
  for (std::size_t i = 0; i < b_count; ++i) {
    const git_tree_entry* eb = git_tree_entry_byindex(b, i);
    if (a != nullptr && git_tree_entry_byname(a, git_tree_entry_name(eb)) != nullptr) continue;
    if (!one_side(eb, false)) return false;
  }
  return true;
}

}  // namespace gitopsd::worker
