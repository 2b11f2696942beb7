// Reading and comparing dest: git blob ids of its files, its symlinks' targets, its walk.
#include "files_dest.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>
#include <stdexcept>

#include "gitopsd/c_handle.hpp"
#include "gitopsd/crypto.hpp"

namespace gitopsd::worker {
namespace {

class Sha1 {
 public:
  Sha1() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha1(), nullptr) != 1) {
      throw std::runtime_error("SHA-1 unavailable");
    }
  }
  void update(std::string_view bytes) { EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest.data(), &size);
    return to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), size));
  }

 private:
  CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx_;
};

std::string blob_header(std::size_t size) {
  std::string header = "blob " + std::to_string(size);
  header.push_back('\0');
  return header;
}

// The git blob id of the regular file `name`, or "" when it is not one (or changed meanwhile).
std::string hash_file_at(int parent, const std::string& name) {
  Fd fd(::openat(parent, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  const auto size = static_cast<std::size_t>(st.st_size);
  Sha1 sha;
  sha.update(blob_header(size));
  std::array<char, 65536> buffer{};
  std::size_t total = 0;
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "";
    if (n == 0) break;
    total += static_cast<std::size_t>(n);
    sha.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  return total == size ? sha.hex() : "";
}

std::optional<std::string> read_link_at(int parent, const std::string& name) {
  std::string target(4096, '\0');
  const ssize_t n = ::readlinkat(parent, name.c_str(), target.data(), target.size());
  if (n < 0 || static_cast<std::size_t>(n) >= target.size()) return std::nullopt;
  target.resize(static_cast<std::size_t>(n));
  return target;
}

}  // namespace

EntryState compare_entry(int parent, const std::string& name, const struct stat& st,
                         const TreeFile& file, const DesiredTree& tree) {
  if (file.kind == FileKind::symlink) {
    if (!S_ISLNK(st.st_mode)) return EntryState::wrong;
    const auto target = read_link_at(parent, name);
    return target && *target == tree.link_targets.at(file.path) ? EntryState::right
                                                                : EntryState::wrong;
  }
  if (!S_ISREG(st.st_mode) || hash_file_at(parent, name) != file.blob_id) return EntryState::wrong;
  return (st.st_mode & 07777) == mode_for(file.kind) ? EntryState::right : EntryState::mode_only;
}

std::vector<Fd> open_existing(int root, const std::vector<std::string>& parts, std::size_t count) {
  std::vector<Fd> chain;
  chain.emplace_back(::dup(root));
  for (std::size_t i = 0; i < count && chain.back().valid(); ++i) {
    Fd next = open_dir_at(chain.back().get(), parts[i]);
    if (!next.valid()) break;
    chain.push_back(std::move(next));
  }
  return chain;
}

// The directory `dir` ('/'-separated, "" = root) under `root`, or an invalid Fd.
Fd open_dir_path(int root, const std::string& dir) {
  if (dir.empty()) return Fd(::dup(root));
  const auto parts = split(dir);
  auto chain = open_existing(root, parts, parts.size());
  return chain.size() == parts.size() + 1 ? std::move(chain.back()) : Fd();
}

bool walk_dest(int dir_fd, const std::string& prefix, Walk& walk) {
  for (const auto& name : list_dir(dir_fd)) {
    const std::string path = child_path(prefix, name);
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode) && walk.tree.has_dir(path)) {
      Fd child = open_dir_at(dir_fd, name);
      if (!child.valid()) {
        walk.error = "cannot open " + path + ": " + errno_text(errno);
        return false;
      }
      if (!walk_dest(child.get(), path, walk)) return false;
      continue;
    }
    const TreeFile* wanted = walk.tree.find(path);
    if (!S_ISDIR(st.st_mode) && wanted != nullptr) {
      walk.present[path] = compare_entry(dir_fd, name, st, *wanted, walk.tree);
      continue;
    }
    // A directory where the tree has a file, or the reverse, is replaced when the new entry
    // is switched in; anything else is deleted after that.
    if (wanted == nullptr && !walk.tree.has_dir(path))
      walk.unwanted.push_back(path);
    if (int err = remove_entry(dir_fd, name, /*dry_run=*/true, walk.removed)) {
      walk.error = "cannot read " + path + ": " + errno_text(err);
      return false;
    }
  }
  return true;
}

std::string git_blob_id(std::string_view content) {
  Sha1 sha;
  sha.update(blob_header(content.size()));
  sha.update(content);
  return sha.hex();
}

}  // namespace gitopsd::worker
