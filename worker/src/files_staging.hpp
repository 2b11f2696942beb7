// The per_file switch of a `files` apply (apply_files in gitopsd/worker/files_sync.hpp): new
// entries staged beside the ones they replace, then renamed over them.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "files_dest.hpp"
#include "files_tree.hpp"

namespace gitopsd::worker {

// switch: per_file. Every new entry is written under a temporary name beside the one it
// replaces; a new directory is made under a temporary name in its parent and filled under
// final names. Nothing in dest changes until switch_in(); a Staging destroyed before that
// removes everything it staged.
class Staging {
 public:
  Staging(int root, const DesiredTree& tree, const BlobSource& blobs, const FilesOptions& options)
      : root_(root), tree_(tree), blobs_(blobs), options_(options) {}
  ~Staging() { roll_back(); }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  // Stages `file`, whose entry in dest compared as `state`; nullopt or why not.
  std::optional<Problem> stage(const TreeFile& file, EntryState state);

  // Renames every staged entry into place, then sets the modes that alone changed. From the
  // first rename on dest is changing; a failure here (which staging makes unlikely: every
  // name was created or looked up already) leaves it part switched.
  std::optional<Problem> switch_in();

 private:
  struct Entry {
    std::string dir;   // on disk, relative to root; exists in dest
    std::string temp;  // staged under this name in `dir`
    std::string name;  // its final name
    std::string path;  // in the tree
  };

  // A name the filesystem cannot even look up (too long, say) fails now, not at the switch.
  static std::optional<Problem> probe(int dir_fd, const std::string& name,
                                      const std::string& path);
  void roll_back();

  int root_;
  const DesiredTree& tree_;
  const BlobSource& blobs_;
  const FilesOptions& options_;
  std::vector<Entry> entries_;
  std::size_t switched_ = 0;
  std::map<std::string, std::string> staged_dirs_;  // tree path -> temporary name
  std::vector<const TreeFile*> mode_changes_;
};

}  // namespace gitopsd::worker
