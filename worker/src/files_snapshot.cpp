// The snapshot file, one line per entry in depth-first order, each directory before what it
// holds and names sorted:
//   gitopsd-dest-snapshot 1
//   tree <subtree id>
//   dest <escaped dest>
//   <depth> <mode> <dev> <ino> <size> <mtime s> <mtime ns> <ctime s> <ctime ns> <escaped name>
//   ...
//   end <entries> <FNV-1a 64 of every line before this one, in hex>
// dest itself is the entry of depth 0 (no name); an entry of depth d is in the directory last
// listed at depth d-1, so a check needs no readdir. The checksum and the end record only catch
// a torn or damaged file: the state directory is the worker's own, not a trust boundary.
#include "files_snapshot.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string_view>

#include "gitopsd/c_handle.hpp"
#include "posix_helpers.hpp"

namespace gitopsd::worker {
namespace {

constexpr std::string_view kMagic = "gitopsd-dest-snapshot 1";
constexpr std::size_t kMaxLine = 64 * 1024;  // a name is at most 255 bytes, a path 4096

struct StatFields {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint32_t mode = 0;
  std::int64_t size = 0;
  std::int64_t mtime_s = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_s = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const StatFields&) const = default;
};

StatFields fields_of(const struct stat& st) {
  StatFields fields;
  fields.dev = static_cast<std::uint64_t>(st.st_dev);
  fields.ino = static_cast<std::uint64_t>(st.st_ino);
  fields.mode = static_cast<std::uint32_t>(st.st_mode);
  fields.size = static_cast<std::int64_t>(st.st_size);
  fields.mtime_s = static_cast<std::int64_t>(st.st_mtim.tv_sec);
  fields.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_nsec);
  fields.ctime_s = static_cast<std::int64_t>(st.st_ctim.tv_sec);
  fields.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_nsec);
  return fields;
}

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

struct Entry {
  std::size_t depth = 0;
  std::string name;
  StatFields stat;
  bool operator==(const Entry&) const = default;
};

struct StatWalk {
  std::vector<Entry> entries;
  bool racy = false;
};

// The names in a directory; false when it cannot be read completely (list_dir would return
// what it got, and a snapshot missing an entry would vouch for a directory it never saw).
bool read_names(int dir_fd, std::vector<std::string>& names) {
  const int copy = ::dup(dir_fd);
  if (copy < 0) return false;
  CHandle<DIR, ::closedir> dir(::fdopendir(copy));
  if (!dir) {
    ::close(copy);
    return false;
  }
  ::rewinddir(dir.get());
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) return errno == 0;
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
}

class Walker {
 public:
  Walker(std::size_t max_entries, std::int64_t racy_from_ns)
      : max_entries_(max_entries), racy_from_ns_(racy_from_ns) {}

  bool add(std::size_t depth, std::string name, const struct stat& st) {
    if (walk_.entries.size() >= max_entries_) return false;
    const StatFields fields = fields_of(st);
    if (fields.mtime_s * kNanosPerSecond + fields.mtime_ns >= racy_from_ns_ ||
        fields.ctime_s * kNanosPerSecond + fields.ctime_ns >= racy_from_ns_)
      walk_.racy = true;
    walk_.entries.push_back({depth, std::move(name), fields});
    return true;
  }

  // Everything in `dir_fd`, whose entries are at `depth`.
  bool walk(int dir_fd, std::size_t depth) {
    std::vector<std::string> names;
    if (!read_names(dir_fd, names)) return false;
    std::sort(names.begin(), names.end());
    for (auto& name : names) {
      struct stat st {};
      if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
      if (!S_ISDIR(st.st_mode)) {
        if (!add(depth, std::move(name), st)) return false;
        continue;
      }
      Fd child = open_dir_at(dir_fd, name);
      struct stat opened {};
      if (!child.valid() || ::fstat(child.get(), &opened) != 0 || opened.st_dev != st.st_dev ||
          opened.st_ino != st.st_ino)
        return false;
      if (!add(depth, std::move(name), st) || !walk(child.get(), depth + 1)) return false;
    }
    return true;
  }

  StatWalk take() { return std::move(walk_); }

 private:
  std::size_t max_entries_;
  std::int64_t racy_from_ns_;
  StatWalk walk_;
};

// `dest` itself is the operator's path: a symlink there is followed, as apply_files does.
Fd open_root(const std::string& dest) {
  return Fd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

// The stat of dest and of every entry under it, or nullopt when a part cannot be read, an
// entry goes meanwhile, or there are more than `max_entries`.
std::optional<StatWalk> stat_walk(const std::string& dest, std::size_t max_entries) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const auto window = std::chrono::duration_cast<std::chrono::nanoseconds>(kRacyWindow).count();
  Walker walker(max_entries,
                static_cast<std::int64_t>(now.tv_sec) * kNanosPerSecond + now.tv_nsec - window);
  Fd root = open_root(dest);
  struct stat st {};
  if (!root.valid() || ::fstat(root.get(), &st) != 0) return std::nullopt;
  if (!walker.add(0, "", st) || !walker.walk(root.get(), 1)) return std::nullopt;
  return walker.take();
}

// ---- the file -----------------------------------------------------------------------------

class Checksum {
 public:
  void add_line(std::string_view line) {
    for (const char c : line) add(static_cast<unsigned char>(c));
    add('\n');
  }
  std::string hex() const {
    char out[16];
    auto [end, ec] = std::to_chars(out, out + sizeof out, hash_, 16);
    return std::string(out, end);
  }

 private:
  void add(unsigned char byte) {
    hash_ ^= byte;
    hash_ *= 1099511628211ULL;
  }
  std::uint64_t hash_ = 14695981039346656037ULL;
};

// Names may hold any byte but '/' and NUL: spaces, line ends and '%' become %XX.
std::string escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == '%' || byte == 0x7f) {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size()) return std::nullopt;
    const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc() || end != text.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

template <class Number>
void append_number(std::string& out, Number value) {
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end);
  out.push_back(' ');
}

std::string serialize(const SnapshotKey& key, const StatWalk& walk) {
  std::string text;
  text.reserve(walk.entries.size() * 96 + 256);
  Checksum sum;
  auto line = [&](std::size_t from) {
    sum.add_line(std::string_view(text).substr(from));
    text.push_back('\n');
  };
  std::size_t from = text.size();
  text += kMagic;
  line(from);
  from = text.size();
  text += "tree " + key.tree;
  line(from);
  from = text.size();
  text += "dest " + escape(key.dest);
  line(from);
  for (const Entry& entry : walk.entries) {
    from = text.size();
    const StatFields& s = entry.stat;
    append_number(text, entry.depth);
    append_number(text, s.mode);
    append_number(text, s.dev);
    append_number(text, s.ino);
    append_number(text, s.size);
    append_number(text, s.mtime_s);
    append_number(text, s.mtime_ns);
    append_number(text, s.ctime_s);
    append_number(text, s.ctime_ns);
    text += escape(entry.name);
    line(from);
  }
  text += "end " + std::to_string(walk.entries.size()) + " " + sum.hex() + "\n";
  return text;
}

bool write_snapshot(const std::string& file, const SnapshotKey& key, const StatWalk& walk) {
  const std::string text = serialize(key, walk);
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ignored);
  const std::string temp = file + ".tmp";
  {
    Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.valid()) return false;
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(out.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::unlink(temp.c_str());
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
  }
  // No fsync: a snapshot torn by a crash fails its checksum, and costs one full check.
  if (::rename(temp.c_str(), file.c_str()) == 0) return true;
  ::unlink(temp.c_str());
  return false;
}

// Lines of a file, each without its '\n', never more than kMaxLine bytes in memory.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd), buffer_(kMaxLine) {}

  // The next line (valid until the next call), or nullopt at the end, on a read error, a line
  // over kMaxLine or a last line without its '\n' (then failed()).
  std::optional<std::string_view> next() {
    while (true) {
      const char* start = buffer_.data() + begin_;
      if (const void* newline = std::memchr(start, '\n', end_ - begin_)) {
        const auto length = static_cast<std::size_t>(static_cast<const char*>(newline) - start);
        const std::string_view line(start, length);
        begin_ += line.size() + 1;
        return line;
      }
      if (eof_) {
        failed_ = begin_ != end_;
        return std::nullopt;
      }
      std::memmove(buffer_.data(), start, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (end_ == buffer_.size()) {
        failed_ = true;
        return std::nullopt;
      }
      const ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        failed_ = true;
        return std::nullopt;
      }
      if (n == 0) eof_ = true;
      end_ += static_cast<std::size_t>(n);
    }
  }
  bool failed() const { return failed_; }

 private:
  int fd_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
  bool failed_ = false;
};

// "<number> " off the front of `rest`.
template <class Number>
bool take_number(std::string_view& rest, Number& out) {
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), out);
  if (ec != std::errc() || end == rest.data() + rest.size() || *end != ' ') return false;
  rest.remove_prefix(static_cast<std::size_t>(end - rest.data()) + 1);
  return true;
}

std::optional<Entry> parse_entry(std::string_view line) {
  Entry entry;
  StatFields& s = entry.stat;
  if (!take_number(line, entry.depth) || !take_number(line, s.mode) ||
      !take_number(line, s.dev) || !take_number(line, s.ino) || !take_number(line, s.size) ||
      !take_number(line, s.mtime_s) || !take_number(line, s.mtime_ns) ||
      !take_number(line, s.ctime_s) || !take_number(line, s.ctime_ns))
    return std::nullopt;
  auto name = unescape(line);
  if (!name) return std::nullopt;
  // A name is one directory entry: never a path that could lead out of its directory.
  const bool root = entry.depth == 0;
  if (root != name->empty() || *name == "." || *name == ".." ||
      name->find_first_of(std::string_view("/\0", 2)) != std::string::npos)
    return std::nullopt;
  entry.name = std::move(*name);
  return entry;
}

bool same(const struct stat& st, const StatFields& recorded) { return fields_of(st) == recorded; }

}  // namespace

SnapshotCheck check_snapshot(const std::string& file, const SnapshotKey& key) {
  Fd in(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in.valid() || key.tree.empty()) return SnapshotCheck::unusable;
  LineReader lines(in.get());
  Checksum sum;
  auto expect = [&](std::string_view wanted) {
    const auto line = lines.next();
    if (!line || *line != wanted) return false;
    sum.add_line(*line);
    return true;
  };
  if (!expect(kMagic) || !expect("tree " + key.tree) || !expect("dest " + escape(key.dest)))
    return SnapshotCheck::unusable;

  std::vector<Fd> dirs;  // dirs[d]: the directory the entries of depth d+1 are in
  std::size_t count = 0;
  std::optional<std::string_view> line;
  while ((line = lines.next()) && !line->starts_with("end ")) {
    sum.add_line(*line);
    auto entry = parse_entry(*line);
    if (!entry || (count == 0) != (entry->depth == 0) || entry->depth > dirs.size())
      return SnapshotCheck::unusable;
    ++count;
    struct stat st {};
    if (entry->depth == 0) {
      Fd root = open_root(key.dest);
      if (!root.valid() || ::fstat(root.get(), &st) != 0 || !same(st, entry->stat))
        return SnapshotCheck::differs;
      dirs.push_back(std::move(root));
      continue;
    }
    dirs.resize(entry->depth);
    const int parent = dirs.back().get();
    if (::fstatat(parent, entry->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !same(st, entry->stat))
      return SnapshotCheck::differs;
    if (!S_ISDIR(st.st_mode)) continue;
    Fd dir = open_dir_at(parent, entry->name);
    struct stat opened {};
    if (!dir.valid() || ::fstat(dir.get(), &opened) != 0 || !same(opened, entry->stat))
      return SnapshotCheck::differs;
    dirs.push_back(std::move(dir));
  }
  if (!line || count == 0 || *line != "end " + std::to_string(count) + " " + sum.hex())
    return SnapshotCheck::unusable;
  // Nothing may follow the end record: it would be a file written over another.
  if (lines.next() || lines.failed()) return SnapshotCheck::unusable;
  return SnapshotCheck::matches;
}

VerifiedDest verify_and_snapshot(const std::string& file, const SnapshotKey& key,
                                 const std::vector<TreeFile>& files, const BlobSource& blobs,
                                 const FilesOptions& options) {
  // An in-sync dest holds the tree's files and directories and nothing else: at most dest
  // itself plus one entry per component of each path.
  std::size_t max_entries = 1;
  for (const TreeFile& f : files) {
    max_entries += 1 + static_cast<std::size_t>(std::count(f.path.begin(), f.path.end(), '/'));
  }
  // The walk before the hashing: any change while files are read shows in the one after.
  const auto before = key.tree.empty() ? std::nullopt : stat_walk(key.dest, max_entries);
  VerifiedDest verified{apply_files(key.dest, files, blobs, options, /*verify_only=*/true)};
  const bool in_sync =
      verified.outcome.ok && verified.outcome.written + verified.outcome.removed == 0;
  if (before && !before->racy && in_sync) {
    const auto after = stat_walk(key.dest, max_entries);
    if (after && after->entries == before->entries)
      verified.snapshot_stored = write_snapshot(file, key, *before);
  }
  if (!verified.snapshot_stored) ::unlink(file.c_str());
  return verified;
}

}  // namespace gitopsd::worker
