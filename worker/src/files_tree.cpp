// The desired tree, checked: path safety (check_tree_path, a .git under any name git refuses)
// and symlink targets resolved as the kernel would.
#include "files_tree.hpp"

#include <cctype>
#include <deque>

#include "posix_helpers.hpp"

namespace gitopsd::worker {
namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A name git's verify_path refuses as ".git" with core.protectNTFS on (git's default on every
// platform since 2.24): Windows drops trailing spaces and dots and reads "name:stream" as
// "name", and "git~1" is the 8.3 short name of ".git". A dest exported over SMB is read that
// way. (core.protectHFS's ignorable Unicode code points are left out: they matter only on an
// HFS+ volume, which a Linux dest is not.)
bool is_dot_git(std::string_view name) {
  name = name.substr(0, name.find(':'));
  while (!name.empty() && (name.back() == ' ' || name.back() == '.')) name.remove_suffix(1);
  return equals_ignoring_case(name, ".git") || equals_ignoring_case(name, "git~1");
}

// Resolves `target` from the directory `stack` as the kernel would, following the tree's own
// symlinks (a chain of links that are each fine alone can still climb out); false when the
// result would be above the root, or on a loop.
bool resolves_inside(std::vector<std::string> stack, const std::string& target,
                     const std::map<std::string, std::string>& links) {
  if (!target.empty() && target.front() == '/') return false;
  auto first = split(target);
  std::deque<std::string> pending(first.begin(), first.end());
  int hops = 0;
  while (!pending.empty()) {
    std::string part = std::move(pending.front());
    pending.pop_front();
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (stack.empty()) return false;
      stack.pop_back();
      continue;
    }
    stack.push_back(std::move(part));
    const auto link = links.find(join(stack, stack.size()));
    if (link == links.end()) continue;
    if (++hops > 40 || (!link->second.empty() && link->second.front() == '/')) return false;
    stack.pop_back();
    auto parts = split(link->second);
    pending.insert(pending.begin(), parts.begin(), parts.end());
  }
  return true;
}

}  // namespace

std::variant<BlobData, Problem> read_blob_of(const TreeFile& file, const BlobSource& blobs,
                                             std::uint64_t max_bytes) {
  auto cannot_read = [&](const GitError& error) {
    return "cannot read blob " + file.blob_id + " for " + file.path + ": " + error.message;
  };
  auto size = blobs.size(file.blob_id);
  if (auto* error = std::get_if<GitError>(&size)) return cannot_read(*error);
  if (std::get<std::uint64_t>(size) > max_bytes) {
    return Problem("file too large: " + file.path + " is " +
                       std::to_string(std::get<std::uint64_t>(size)) +
                       " bytes, over worker.max_file_bytes (" + std::to_string(max_bytes) + ")",
                   /*tree_refused=*/true);
  }
  auto data = blobs.read(file.blob_id);
  if (auto* error = std::get_if<GitError>(&data)) return cannot_read(*error);
  return std::get<BlobData>(std::move(data));
}

std::optional<Problem> build_desired(const std::vector<TreeFile>& files, const BlobSource& blobs,
                                     const FilesOptions& options, DesiredTree& tree) {
  tree.files.reserve(files.size());
  for (const auto& file : files) {
    if (auto problem = check_tree_path(file.path)) return problem;
    tree.files.push_back(&file);
  }
  auto by_path = [](const TreeFile* a, const TreeFile* b) { return a->path < b->path; };
  // Mirror::list_files gives them sorted already.
  if (!std::is_sorted(tree.files.begin(), tree.files.end(), by_path))
    std::sort(tree.files.begin(), tree.files.end(), by_path);
  for (std::size_t i = 0; i + 1 < tree.files.size(); ++i) {
    const std::string& path = tree.files[i]->path;
    const std::string& next = tree.files[i + 1]->path;
    if (next == path) return "duplicate path: " + path;
    // Paths under `path` would follow it directly, after only those extending its last name.
    if (next.starts_with(path) && tree.has_dir(path))
      return "path is both a file and a directory: " + path;
  }
  for (const TreeFile* file : tree.files) {
    const std::string& path = file->path;
    if (file->kind != FileKind::symlink) continue;
    auto blob = read_blob_of(*file, blobs, options.max_file_bytes);
    if (auto* error = std::get_if<Problem>(&blob)) return *error;
    std::string target(std::get<BlobData>(blob).bytes);
    if (target.empty() || target.find('\0') != std::string::npos) {
      return "invalid symlink target: " + path;
    }
    for (const auto& part : split(target)) {
      if (is_dot_git(part)) return "symlink target has a .git component: " + path + " -> " + target;
    }
    tree.link_targets.emplace(path, std::move(target));
  }
  for (const auto& [path, target] : tree.link_targets) {
    auto dir = split(path);
    dir.pop_back();
    if (!resolves_inside(dir, target, tree.link_targets)) {
      return "symlink escapes dest: " + path + " -> " + target;
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_tree_path(std::string_view path) {
  // Called for every file of the tree on every apply: no allocation unless refused.
  auto refuse = [&](const char* why) { return why + std::string(path); };
  if (path.empty()) return "invalid path: (empty)";
  if (path.find('\0') != std::string_view::npos) return refuse("invalid path: ");
  if (path.front() == '/') return refuse("path escapes dest: ");
  for (std::size_t start = 0; start <= path.size();) {
    const auto slash = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, slash - start);
    if (part == "..") return refuse("path escapes dest: ");
    if (part.empty() || part == ".") return refuse("invalid path: ");
    if (is_dot_git(part)) return refuse("path has a .git component: ");
    start = slash + 1;
  }
  return std::nullopt;
}

}  // namespace gitopsd::worker
