// A stat snapshot of a `files` dest, like git's index: once a full (hashing) drift check found
// dest holding a tree, the lstat of every entry under it is recorded, so the next check of the
// same tree trusts an unchanged dest without reading a file. Sound because every change leaves
// a trace in a stat: new content and chmod change the entry's ctime (which no user can set
// back), adding, removing or renaming an entry changes its directory's mtime and ctime, a
// replacement changes the inode. An entry whose times are too close to the walk is "racily
// clean" (a write in the same timestamp tick could leave them equal): then nothing is stored.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "gitopsd/worker/files_sync.hpp"

namespace gitopsd::worker {

// What a snapshot vouches for: `dest` held the subtree `tree` (its object id).
struct SnapshotKey {
  std::string dest;
  std::string tree;
};

// An entry whose ctime or mtime is this close to the walk (or after it) makes a snapshot
// racy: more than any filesystem's timestamp granularity on Linux (FAT's is 2 s).
inline constexpr std::chrono::seconds kRacyWindow{2};

enum class SnapshotCheck {
  matches,   // every recorded entry is as it was: dest still holds the tree
  differs,   // an entry changed, went, or its directory changed: a full check must look
  unusable,  // no snapshot, one of another tree or dest, or a corrupt or truncated file
};

// Compares dest with the snapshot in `file`: an lstat per recorded entry (and an open per
// directory), no readdir, no file read. `matches` only when the whole file, its end record
// and checksum included, was read and every entry matched. Reads a line at a time, so memory
// does not follow the file's size; a line over 64 KiB makes it unusable.
SnapshotCheck check_snapshot(const std::string& file, const SnapshotKey& key);

struct VerifiedDest {
  FilesOutcome outcome;  // what apply_files(verify_only=true) found
  bool snapshot_stored = false;
};

// The full drift check, apply_files(key.dest, ..., verify_only=true), between two stat walks
// of dest (symlinks not followed below dest itself). When it finds dest in sync, both walks are
// equal and no entry is racy, writes the snapshot to `file` (temp file and rename, the parent
// directory created); otherwise removes `file`. A walk gives up at more entries than an in-sync
// dest of `files` can hold, so an overgrown dest costs no memory. An empty key.tree stores
// nothing.
VerifiedDest verify_and_snapshot(const std::string& file, const SnapshotKey& key,
                                 const std::vector<TreeFile>& files, const BlobSource& blobs,
                                 const FilesOptions& options);

}  // namespace gitopsd::worker
