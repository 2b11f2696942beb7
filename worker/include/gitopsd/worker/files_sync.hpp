// The `files` applier's core: makes a directory hold exactly a subtree of a commit, without a
// shell and without following a symlink already there. Nothing from a webhook payload becomes
// a path. The Applier around it (files_applier.cpp) adds the applied record and `after`.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gitopsd/config.hpp"
#include "gitopsd/worker/mirror.hpp"

namespace gitopsd::worker {

// Where a `files` apply gets blobs: the mirror, or a test's map.
struct BlobSource {
  // A blob's size without reading its content (checked against max_file_bytes first).
  std::function<std::variant<std::uint64_t, GitError>(const std::string& blob_id)> size;
  std::function<std::variant<BlobData, GitError>(const std::string& blob_id)> read;
};

struct FilesOptions {
  FilesSwitch switch_mode = FilesSwitch::per_file;
  std::uint64_t max_file_bytes = 100ULL << 20;  // bytes; a larger blob fails the apply
};

struct FilesOutcome {
  bool ok = false;
  std::string error;  // when !ok: what was refused or failed (e.g. "path escapes dest: ../x")
  // When !ok: the commit's tree itself is refused (a path escaping dest or with a .git
  // component, a symlink leaving dest, a file over max_file_bytes), so another attempt at
  // the same commit cannot succeed. False for failures of the moment (disk full, EACCES).
  bool refused = false;
  std::size_t written = 0;    // files created or replaced
  std::size_t removed = 0;    // files and directories deleted
  std::size_t unchanged = 0;  // files already right
};

// Git's object id of a blob with this content: hex SHA-1 of "blob <size>\0<content>".
std::string git_blob_id(std::string_view content);

// Why a path from a tree (relative, '/'-separated) may not be written under dest, or nullopt
// when it may: empty, NUL, absolute, "..", "." or empty components, and any component git
// itself refuses as ".git" (core.protectNTFS, git's default everywhere): ".git" in any case,
// also with trailing spaces or dots or an NTFS stream suffix (".git. ", ".git::$DATA"), and
// its 8.3 short name "git~1". Pure; safe from any thread.
std::optional<std::string> check_tree_path(std::string_view path);

// Makes `dest` hold exactly `files`: adds, replaces, deletes what is not in `files`, sets the
// executable bit and symlinks. Refuses, before writing anything, any path check_tree_path
// refuses, any symlink whose target would resolve outside `dest` or names a ".git", and
// (before reading it) any blob over `options.max_file_bytes`. Never follows a symlink already
// in `dest`. Failure-atomic: every new entry is staged before anything is switched in, and a
// failed apply leaves `dest` as it was (contents, modes, symlinks; no temporary files).
// `options.switch_mode`:
//   per_file: each file is staged under a temporary name in its own directory (a new
//     directory under a temporary name in its parent) and renamed over the old one, so a
//     reader never sees a half-written file, but may see old and new files side by side for
//     a moment; deletions come last.
//   exchange: a copy of the whole tree is built beside `dest` (".<name>.gitopsd-stage-*" in
//     its parent, unchanged files hard-linked, others written) and swapped with `dest` by
//     renameat2(RENAME_EXCHANGE): readers see all old or all new. Needs `dest`'s parent
//     writable and on the same filesystem, and a filesystem with RENAME_EXCHANGE.
// A missing `dest` (its parent must exist) is built beside it and renamed into place.
// When `verify_only`, writes nothing and reports in `written`/`removed` what it would change
// (the drift check). Comparison uses git blob ids of the files in `dest`, so no blob is read
// for a file that is already right.
FilesOutcome apply_files(const std::string& dest, const std::vector<TreeFile>& files,
                         const BlobSource& blobs, const FilesOptions& options = {},
                         bool verify_only = false);

// The incremental form of apply_files, for a `dest` that held the tree `changed` was computed
// against (Mirror::changed_paths): only the paths in `changed` are compared, so with per_file
// the cost follows the change, not the tree (with exchange, each unchanged file costs a hard
// link). The same refusals and failure atomicity as apply_files. Drift elsewhere in `dest` is
// left to the full apply_files of the resync check. Falls back to apply_files when `dest`
// does not exist.
FilesOutcome apply_file_changes(const std::string& dest, const std::vector<TreeFile>& files,
                                const std::vector<std::string>& changed, const BlobSource& blobs,
                                const FilesOptions& options = {});

// Writes `files` into a fresh directory `dir` (for `exec`: a checkout of the subtree).
FilesOutcome checkout_files(const std::string& dir, const std::vector<TreeFile>& files,
                            const BlobSource& blobs, const FilesOptions& options = {});

}  // namespace gitopsd::worker
