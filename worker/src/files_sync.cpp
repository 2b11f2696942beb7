// The `files` apply, put together: the desired tree (files_tree), what dest holds
// (files_dest), and the switch, per_file (files_staging) or exchange (files_exchange).
#include "gitopsd/worker/files_sync.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <optional>
#include <utility>

#include "files_dest.hpp"
#include "files_exchange.hpp"
#include "files_staging.hpp"
#include "files_tree.hpp"
#include "posix_helpers.hpp"

namespace gitopsd::worker {
namespace {

FilesOutcome fail(Problem problem, FilesOutcome outcome = {}) {
  outcome.ok = false;
  outcome.refused = problem.refused;
  outcome.error = std::move(problem.message);
  return outcome;
}

// The tree is refused before anything was read or written.
FilesOutcome refuse(Problem problem) {
  problem.refused = true;
  return fail(std::move(problem));
}

// A missing dest: the whole tree is built beside it and renamed into place.
FilesOutcome create_dest(const std::string& dest, const DesiredTree& tree,
                         const BlobSource& blobs, const FilesOptions& options) {
  FilesOutcome outcome;
  if (auto problem = build_and_switch(dest, tree, [](const std::string&) { return false; }, blobs,
                                      options))
    return fail(*problem);
  outcome.written = tree.files.size();
  outcome.ok = true;
  return outcome;
}

Fd open_dest(const std::string& dest) {
  // `dest` itself is the operator's path: a symlink there is followed on purpose.
  return Fd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

}  // namespace

FilesOutcome apply_files(const std::string& dest, const std::vector<TreeFile>& files,
                         const BlobSource& blobs, const FilesOptions& options, bool verify_only) {
  DesiredTree tree;
  if (auto refused = build_desired(files, blobs, options, tree)) return refuse(*refused);

  FilesOutcome outcome;
  Fd root = open_dest(dest);
  if (!root.valid() && errno == ENOENT) {
    if (!verify_only) return create_dest(dest, tree, blobs, options);
    outcome.ok = true;
    outcome.written = tree.files.size();
    return outcome;
  }
  if (!root.valid()) return fail("cannot open " + dest + ": " + errno_text(errno));

  Walk walk{tree, {}, {}, 0, {}};
  if (!walk_dest(root.get(), "", walk)) return fail(walk.error);
  outcome.removed = walk.removed;
  auto state_of = [&](const std::string& path) {
    const auto found = walk.present.find(path);
    return found == walk.present.end() ? EntryState::wrong : found->second;
  };
  for (const TreeFile* file : tree.files) {
    ++(state_of(file->path) == EntryState::right ? outcome.unchanged : outcome.written);
  }
  if (verify_only || outcome.written + outcome.removed == 0) {
    outcome.ok = true;
    return outcome;
  }

  if (options.switch_mode == FilesSwitch::exchange) {
    auto reuse = [&](const std::string& path) { return state_of(path) == EntryState::right; };
    root.reset();
    if (auto problem = build_and_switch(dest, tree, reuse, blobs, options))
      return fail(*problem, outcome);
    outcome.ok = true;
    return outcome;
  }

  Staging staging(root.get(), tree, blobs, options);
  for (const TreeFile* file : tree.files) {
    const EntryState state = state_of(file->path);
    if (state == EntryState::right) continue;
    if (auto problem = staging.stage(*file, state)) return fail(*problem, outcome);
  }
  if (auto problem = staging.switch_in()) return fail(*problem, outcome);
  for (const auto& path : walk.unwanted) {
    auto parts = split(path);
    const std::string name = parts.back();
    parts.pop_back();
    Fd dir = open_dir_path(root.get(), join(parts, parts.size()));
    std::size_t ignored = 0;
    if (int err = dir.valid() ? remove_entry(dir.get(), name, false, ignored) : 0)
      return fail("cannot remove " + path + ": " + errno_text(err), outcome);
  }
  outcome.ok = true;
  return outcome;
}

FilesOutcome apply_file_changes(const std::string& dest, const std::vector<TreeFile>& files,
                                const std::vector<std::string>& changed, const BlobSource& blobs,
                                const FilesOptions& options) {
  Fd root = open_dest(dest);
  if (!root.valid()) return apply_files(dest, files, blobs, options);
  DesiredTree tree;
  if (auto refused = build_desired(files, blobs, options, tree)) return refuse(*refused);

  FilesOutcome outcome;
  std::map<std::string, EntryState> states;  // the changed paths the tree has
  std::vector<std::string> doomed;           // the changed paths it no longer has, in dest
  for (const auto& path : changed) {
    if (check_tree_path(path) || tree.has_dir(path)) continue;
    const auto parts = split(path);
    std::vector<Fd> chain = open_existing(root.get(), parts, parts.size() - 1);
    struct stat st {};
    const bool exists = chain.size() == parts.size() &&
                        ::fstatat(chain.back().get(), parts.back().c_str(), &st,
                                  AT_SYMLINK_NOFOLLOW) == 0;
    const TreeFile* wanted = tree.find(path);
    if (wanted == nullptr) {
      if (exists) doomed.push_back(path);
      continue;
    }
    const EntryState state =
        exists ? compare_entry(chain.back().get(), parts.back(), st, *wanted, tree)
               : EntryState::wrong;
    states.emplace(path, state);
    if (state != EntryState::right) ++outcome.written;
  }
  outcome.unchanged = tree.files.size() - outcome.written;

  if (options.switch_mode == FilesSwitch::exchange) {
    if (outcome.written + doomed.size() == 0) {
      outcome.ok = true;
      return outcome;
    }
    auto reuse = [&](const std::string& path) {
      const auto state = states.find(path);
      return state == states.end() || state->second == EntryState::right;
    };
    root.reset();
    if (auto problem = build_and_switch(dest, tree, reuse, blobs, options))
      return fail(*problem, outcome);
    outcome.removed = doomed.size();
    outcome.ok = true;
    return outcome;
  }

  Staging staging(root.get(), tree, blobs, options);
  for (const auto& [path, state] : states) {
    if (state == EntryState::right) continue;
    if (auto problem = staging.stage(*tree.find(path), state)) return fail(*problem, outcome);
  }
  if (auto problem = staging.switch_in()) return fail(*problem, outcome);
  // Deletions, deepest first, so a directory is emptied before it is pruned.
  for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {
    const auto parts = split(*it);
    std::vector<Fd> chain = open_existing(root.get(), parts, parts.size() - 1);
    if (chain.size() != parts.size()) continue;  // a parent is gone: so is the path
    if (int err = remove_entry(chain.back().get(), parts.back(), false, outcome.removed))
      return fail("cannot remove " + *it + ": " + errno_text(err), outcome);
    // Prune the directories this emptied that the tree no longer has.
    for (std::size_t depth = parts.size() - 1; depth > 0; --depth) {
      if (tree.has_dir(join(parts, depth))) break;
      chain.pop_back();
      if (::unlinkat(chain.back().get(), parts[depth - 1].c_str(), AT_REMOVEDIR) != 0) break;
      ++outcome.removed;
    }
  }
  outcome.ok = true;
  return outcome;
}

FilesOutcome checkout_files(const std::string& dir, const std::vector<TreeFile>& files,
                            const BlobSource& blobs, const FilesOptions& options) {
  DesiredTree tree;
  if (auto refused = build_desired(files, blobs, options, tree)) return refuse(*refused);
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno != EEXIST) return fail("cannot create " + dir + ": " + errno_text(errno));
    Fd existing(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!existing.valid()) return fail("cannot open " + dir + ": " + errno_text(errno));
    if (!list_dir(existing.get()).empty()) return fail("checkout directory not empty: " + dir);
  }
  FilesOptions in_place = options;
  in_place.switch_mode = FilesSwitch::per_file;
  return apply_files(dir, files, blobs, in_place);
}

}  // namespace gitopsd::worker
