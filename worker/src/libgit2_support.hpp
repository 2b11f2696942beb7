// What every libgit2-using file of the mirror needs: owning holders for libgit2 handles,
// object ids as hex, and libgit2's last error as text.
#pragma once

#include <git2.h>
#if __has_include(<git2/sys/errors.h>)
#include <git2/sys/errors.h>  // git_error_set_str, git_error_clear: here from libgit2 1.8 on
#endif

#include <optional>
#include <string>

#include "gitopsd/c_handle.hpp"

namespace gitopsd::worker {

using RepoPtr = CHandle<git_repository, git_repository_free>;
using RemotePtr = CHandle<git_remote, git_remote_free>;
using CommitPtr = CHandle<git_commit, git_commit_free>;
using TreePtr = CHandle<git_tree, git_tree_free>;
using TreeEntryPtr = CHandle<git_tree_entry, git_tree_entry_free>;
using OdbPtr = CHandle<git_odb, git_odb_free>;
using ReferencePtr = CHandle<git_reference, git_reference_free>;

std::string oid_hex(const git_oid& oid);
// 40 hex digits as an object id; nullopt for anything else.
std::optional<git_oid> parse_oid(const std::string& hex);
// The message of the last libgit2 error on this thread.
std::string last_error_text();

}  // namespace gitopsd::worker
