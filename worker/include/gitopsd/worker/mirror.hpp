// One bare mirror per repository under `<state_dir>/mirrors/<name>.git`, fetched
// incrementally with libgit2 (only the tracked branch). Not thread-safe: one Mirror is used
// by one thread at a time (libgit2's rule for a git_repository). libgit2 types stay in the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd::worker {

// A failure from git, classified where it is caught.
struct GitError {
  std::string message;  // libgit2's message with context; never contains credentials
  bool retryable = true;  // network, timeout, host down: retry; bad credentials, bad url: not
};

enum class FileKind { regular, executable, symlink };

// One blob of a subtree, its path relative to the subtree root ('/'-separated).
struct TreeFile {
  std::string path;
  FileKind kind = FileKind::regular;
  std::string blob_id;  // 40 hex
};

// A blob's content, not copied out of libgit2: `bytes` stays valid while `owner` lives.
struct BlobData {
  std::string_view bytes;
  std::shared_ptr<const void> owner;
};

class Mirror {
 public:
  // Opens the mirror, creating the bare repository on first use. Credentials come from
  // `repository.credentials` (token over HTTPS; SSH key with known_hosts checking over SSH);
  // TLS certificates are verified. Throws std::runtime_error when the directory is unusable.
  Mirror(const Repository& repository, const std::string& state_dir);
  ~Mirror();
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  // Fetches the tracked branch (incrementally) and returns its tip commit id (40 hex). The
  // host's ref listing comes first: when it advertises the tip the mirror has, nothing is
  // downloaded (one connection, no pack negotiation).
  // `timeout` bounds connecting and each stall of the transfer.
  std::variant<std::string, GitError> fetch(std::chrono::milliseconds timeout);

  // The tip recorded by the last successful fetch, if any.
  std::optional<std::string> tip() const;

  // True when `commit` is `descendant` or one of its ancestors (git_graph_descendant_of is
  // false for equal ids). False when either is unknown to the mirror.
  bool is_ancestor_or_same(const std::string& commit, const std::string& descendant) const;

  // Object id of the tree at `path` in `commit` ("" or "." = root); nullopt when absent.
  std::optional<std::string> subtree_id(const std::string& commit, const std::string& path) const;

  // Every blob under `path` at `commit`, recursively, sorted by path. Submodules are skipped.
  std::variant<std::vector<TreeFile>, GitError> list_files(const std::string& commit,
                                                           const std::string& path) const;

  // Paths (relative to the subtree root, '/'-separated, sorted) of the blobs that differ
  // between two trees given by object id: added, removed, or changed in content or mode.
  // Subtrees with equal ids are not descended, so the cost follows the change, not the tree.
  // An error when either tree is not in the mirror.
  std::variant<std::vector<std::string>, GitError> changed_paths(const std::string& old_tree,
                                                                 const std::string& new_tree) const;

  // Size in bytes of a blob, from its object header: the content is not inflated.
  std::variant<std::uint64_t, GitError> blob_size(const std::string& blob_id) const;

  // Content of a blob, inflated whole by libgit2 (its pack backend cannot stream) and handed
  // out without a copy.
  std::variant<BlobData, GitError> read_blob(const std::string& blob_id) const;

  const std::string& directory() const;

  // Closes the repository handle (its object cache, pack maps and descriptors); the next call
  // opens it again. The reconciler releases its mirror after each batch, so an idle
  // repository costs no libgit2 memory. No BlobData from read_blob may outlive this call.
  void release();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Calls git_libgit2_init once per process (idempotent, thread-safe).
void init_libgit2();

}  // namespace gitopsd::worker
