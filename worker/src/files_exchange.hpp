// switch: exchange (and a dest that does not exist yet): the whole tree built beside dest and
// switched in at once; see apply_files in gitopsd/worker/files_sync.hpp.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "files_tree.hpp"

namespace gitopsd::worker {

// Builds the tree beside dest as ".<name>.gitopsd-stage-*" and switches it in at once: by
// RENAME_EXCHANGE when dest exists (the old tree, left at the stage's name, is then
// deleted), by a rename when it does not. On failure the stage is removed.
// `reuse` says which files dest already holds right (they are hard-linked, not written).
std::optional<Problem> build_and_switch(const std::string& dest, const DesiredTree& tree,
                                        const std::function<bool(const std::string&)>& reuse,
                                        const BlobSource& blobs, const FilesOptions& options);

}  // namespace gitopsd::worker
