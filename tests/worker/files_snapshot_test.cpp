#include "files_snapshot.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "gitopsd/worker/applier.hpp"
#include "gitopsd/worker/files_sync.hpp"
#include "temp_root.hpp"
#include "gitopsd/worker/mirror.hpp"

namespace gitopsd::worker {
namespace {

namespace fs = std::filesystem;

using test::read_text;
using test::write_text;

void run(const std::string& command) {
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

using test::TempRoot;

std::int64_t nanos(const timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// The newest ctime or mtime of anything under `dir`, itself included.
std::int64_t newest_time(const fs::path& dir) {
  struct stat st {};
  ::lstat(dir.c_str(), &st);
  std::int64_t newest = std::max(nanos(st.st_ctim), nanos(st.st_mtim));
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    ::lstat(entry.path().c_str(), &st);
    newest = std::max({newest, nanos(st.st_ctim), nanos(st.st_mtim)});
  }
  return newest;
}

// Waits until nothing under `dir` is racily clean any more (kRacyWindow old, with a margin).
void wait_until_aged(const fs::path& dir) {
  const std::int64_t ready =
      newest_time(dir) +
      std::chrono::duration_cast<std::chrono::nanoseconds>(kRacyWindow).count() + 100'000'000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    if (nanos(now) > ready) return;
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("clock stuck");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// A name the snapshot file has to escape.
const std::string kOddName = "sub/a b\n%41.txt";

// The tree every test starts from: files at two depths, an executable, a symlink, an odd name.
struct Site {
  std::vector<TreeFile> files;
  std::map<std::string, std::string> blobs;
  std::function<void()> on_read;  // called at each blob read (a hook into the full check)

  Site() {
    add("index.html", "<h1>v1</h1>\n");
    add("bin/run.sh", "#!/bin/sh\n", FileKind::executable);
    add("home", "index.html", FileKind::symlink);
    add("sub/deeper/a.txt", "a\n");
    add("sub/keep.txt", "keep\n");
    add(kOddName, "odd\n");
  }
  void add(const std::string& path, const std::string& content,
           FileKind kind = FileKind::regular) {
    const auto id = git_blob_id(content);
    blobs[id] = content;
    files.push_back({path, kind, id});
  }
  BlobSource source() {
    return {[this](const std::string& id) -> std::variant<std::uint64_t, GitError> {
              return blobs.at(id).size();
            },
            [this](const std::string& id) -> std::variant<BlobData, GitError> {
              if (on_read) on_read();
              return BlobData{blobs.at(id), nullptr};
            }};
  }
};

// Dests holding the site whose entries are older than kRacyWindow, made 16 at a time so
// the suite waits for the clock once, not once per test.
fs::path aged_dest() {
  static std::unique_ptr<TempRoot> pool;
  static std::vector<fs::path> ready;
  if (ready.empty()) {
    pool = std::make_unique<TempRoot>();
    Site site;
    for (int i = 0; i < 16; ++i) {
      const auto dest = pool->path() / ("dest" + std::to_string(i));
      if (!apply_files(dest.string(), site.files, site.source()).ok)
        throw std::runtime_error("setup apply failed");
      ready.push_back(dest);
    }
    wait_until_aged(pool->path());
  }
  auto dest = ready.back();
  ready.pop_back();
  return dest;
}

class FilesSnapshotTest : public ::testing::Test {
 protected:
  FilesSnapshotTest()
      : dest_(aged_dest()),
        file_((root_.path() / "applied" / "repo" / "site.snapshot").string()),
        key_{dest_.string(), std::string(40, 'a')} {}

  VerifiedDest full_check() {
    return verify_and_snapshot(file_, key_, site_.files, site_.source(), {});
  }

  // Stores a snapshot of the (aged, in-sync) dest.
  void snapshot() {
    const auto verified = full_check();
    ASSERT_TRUE(verified.outcome.ok) << verified.outcome.error;
    ASSERT_EQ(verified.outcome.written + verified.outcome.removed, 0u);
    ASSERT_TRUE(verified.snapshot_stored);
    ASSERT_EQ(check_snapshot(file_, key_), SnapshotCheck::matches);
  }

  // What a change to dest must look like: the snapshot no longer vouches for it, and the full
  // check that follows finds the drift and drops the snapshot.
  void expect_drift() {
    EXPECT_EQ(check_snapshot(file_, key_), SnapshotCheck::differs);
    const auto verified = full_check();
    ASSERT_TRUE(verified.outcome.ok) << verified.outcome.error;
    EXPECT_GT(verified.outcome.written + verified.outcome.removed, 0u);
    EXPECT_FALSE(verified.snapshot_stored);
    EXPECT_FALSE(fs::exists(file_));
  }

  TempRoot root_;
  fs::path dest_;
  std::string file_;
  SnapshotKey key_;
  Site site_;
};

TEST_F(FilesSnapshotTest, FullCheckStoresASnapshotTheNextCheckTrusts) {
  EXPECT_EQ(check_snapshot(file_, key_), SnapshotCheck::unusable);  // none yet
  snapshot();
  EXPECT_TRUE(fs::exists(file_));
  // check_snapshot is given no tree and no blob source: a match is by stat alone. Deleting a
  // blob from the site would fail a full check; the snapshot still vouches for dest.
  site_.blobs.clear();
  EXPECT_EQ(check_snapshot(file_, key_), SnapshotCheck::matches);
  EXPECT_EQ(check_snapshot(file_, key_), SnapshotCheck::matches);
}

TEST_F(FilesSnapshotTest, ContentChangedWithSizeAndMtimeRestoredIsDrift) {
  snapshot();
  const auto path = dest_ / "sub" / "keep.txt";
  struct stat before {};
  ASSERT_EQ(::lstat(path.c_str(), &before), 0);
  write_text(path, "KEEP\n");
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  struct stat after {};
  ASSERT_EQ(::lstat(path.c_str(), &after), 0);
  ASSERT_EQ(after.st_size, before.st_size);
  ASSERT_EQ(nanos(after.st_mtim), nanos(before.st_mtim));
  expect_drift();
}

TEST_F(FilesSnapshotTest, FileAddedInASubdirectoryIsDrift) {
  snapshot();
  write_text(dest_ / "sub" / "deeper" / "new.txt", "new\n");
  expect_drift();
}

TEST_F(FilesSnapshotTest, FileRemovedIsDrift) {
  snapshot();
  fs::remove(dest_ / "sub" / "deeper" / "a.txt");
  expect_drift();
}

TEST_F(FilesSnapshotTest, ChmodIsDrift) {
  snapshot();
  ASSERT_EQ(::chmod((dest_ / "bin" / "run.sh").c_str(), 0644), 0);
  expect_drift();
}

TEST_F(FilesSnapshotTest, SymlinkRetargetedIsDrift) {
  snapshot();
  fs::remove(dest_ / "home");
  fs::create_symlink("sub/keep.txt", dest_ / "home");
  expect_drift();
}

TEST_F(FilesSnapshotTest, FileReplacedByRenameIsDrift) {
  snapshot();
  write_text(root_.path() / "keep.txt", "kept\n");  // same size, from outside dest
  fs::rename(root_.path() / "keep.txt", dest_ / "sub" / "keep.txt");
  expect_drift();
}

TEST_F(FilesSnapshotTest, RacyEntriesAreNotStoredAndDropAnOlderSnapshot) {
  snapshot();
  // chmod to the same mode: the content and mode are right, only the ctime is now.
  ASSERT_EQ(::chmod((dest_ / "sub" / "keep.txt").c_str(), 0644), 0);
  EXPECT_EQ(check_snapshot(file_, key_), SnapshotCheck::differs);
  const auto verified = full_check();
  ASSERT_TRUE(verified.outcome.ok) << verified.outcome.error;
  EXPECT_EQ(verified.outcome.written + verified.outcome.removed, 0u);
  EXPECT_FALSE(verified.snapshot_stored);
  EXPECT_FALSE(fs::exists(file_));

  // A tree written just now: in sync, and not snapshotted.
  const auto fresh = root_.path() / "fresh";
  ASSERT_TRUE(apply_files(fresh.string(), site_.files, site_.source()).ok);
  key_.dest = fresh.string();
  const auto fresh_check = full_check();
  ASSERT_TRUE(fresh_check.outcome.ok) << fresh_check.outcome.error;
  EXPECT_EQ(fresh_check.outcome.written + fresh_check.outcome.removed, 0u);
  EXPECT_FALSE(fresh_check.snapshot_stored);
  EXPECT_EQ(check_snapshot(file_, key_), SnapshotCheck::unusable);
}

TEST_F(FilesSnapshotTest, ChangeDuringTheFullCheckIsNotStored) {
  // Between the walk before and the one after: a chmod to the same mode leaves dest in sync
  // (the full check agrees) but its ctime tells the walks apart.
  site_.on_read = [this] { ::chmod((dest_ / "index.html").c_str(), 0644); };
  const auto verified = full_check();
  ASSERT_TRUE(verified.outcome.ok) << verified.outcome.error;
  EXPECT_EQ(verified.outcome.written + verified.outcome.removed, 0u);
  EXPECT_FALSE(verified.snapshot_stored);
  EXPECT_FALSE(fs::exists(file_));
}

TEST_F(FilesSnapshotTest, CorruptOrTruncatedSnapshotIsUnusable) {
  snapshot();
  const std::string good = read_text(file_);
  std::vector<std::string> lines;
  std::istringstream in(good);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u + 10u + 1u);  // header, dest and the 9 entries under it, end
  auto joined = [&](std::size_t skip) {
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (i != skip) out += lines[i] + "\n";
    return out;
  };
  const std::vector<std::pair<std::string, std::string>> corrupt = {
      {"without its end record", joined(lines.size() - 1)},
      {"cut inside the end record", good.substr(0, good.size() - 5)},
      {"without an entry", joined(lines.size() - 2)},
      {"with a byte changed", [&] {
         auto text = good;
         text[text.find("a.txt") + 2] = 'b';  // a.txt -> a.bxt: no stat matches it
         return text;
       }()},
      {"with something after the end", good + good},
      {"empty", ""},
      {"one endless line", std::string(1 << 20, 'x')},
  };
  for (const auto& [what, text] : corrupt) {
    write_text(file_, text);
    const auto check = check_snapshot(file_, key_);
    EXPECT_NE(check, SnapshotCheck::matches) << what;
    // A full check, in sync, stores a good one again.
    EXPECT_TRUE(full_check().snapshot_stored) << what;
    EXPECT_EQ(read_text(file_), good) << what;
  }
  // The end record's count and checksum are what catches these two: every entry left matches.
  write_text(file_, joined(lines.size() - 1));
  EXPECT_EQ(check_snapshot(file_, key_), SnapshotCheck::unusable);
  write_text(file_, joined(lines.size() - 2));
  EXPECT_EQ(check_snapshot(file_, key_), SnapshotCheck::unusable);
}

TEST_F(FilesSnapshotTest, AnotherTreeOrDestMakesItUnusable) {
  snapshot();
  EXPECT_EQ(check_snapshot(file_, {key_.dest, std::string(40, 'b')}), SnapshotCheck::unusable);
  EXPECT_EQ(check_snapshot(file_, {key_.dest, ""}), SnapshotCheck::unusable);
  EXPECT_EQ(check_snapshot(file_, {key_.dest + "/", key_.tree}), SnapshotCheck::unusable);
  EXPECT_EQ(check_snapshot(file_, key_), SnapshotCheck::matches);
}

TEST_F(FilesSnapshotTest, NamesWithSpacesNewlinesAndPercentRoundTrip) {
  snapshot();
  EXPECT_NE(read_text(file_).find(" a%20b%0A%2541.txt\n"), std::string::npos);
  fs::remove(dest_ / kOddName);
  expect_drift();
}

// The applier: its drift check stores the snapshot beside the applied record, trusts it (the
// file is not rewritten), and an apply removes it.
TEST_F(FilesSnapshotTest, FilesApplierChecksDriftByItsSnapshot) {
  // A repository whose `site` subtree is the tree the aged dest already holds.
  const auto source = root_.path() / "source";
  const auto site = source / "site";
  fs::create_directories(site / "bin");
  fs::create_directories(site / "sub" / "deeper");
  write_text(site / "index.html", "<h1>v1</h1>\n");
  write_text(site / "bin" / "run.sh", "#!/bin/sh\n");
  fs::permissions(site / "bin" / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
  fs::create_symlink("index.html", site / "home");
  write_text(site / "sub" / "deeper" / "a.txt", "a\n");
  write_text(site / "sub" / "keep.txt", "keep\n");
  write_text(site / kOddName, "odd\n");
  write_text(source / "README", "not deployed\n");
  run("git init -q -b main " + source.string() + " && git -C " + source.string() +
      " add -A && git -C " + source.string() +
      " -c user.name=test -c user.email=test@example.invalid commit -qm site");

  init_libgit2();
  Repository repository;
  repository.name = "repo";
  repository.url = "file://" + source.string();
  Target target;
  target.name = "site";
  target.path = "site";
  target.apply = FilesApply{.dest = dest_.string()};
  WorkerConfig worker;
  worker.state_dir = (root_.path() / "state").string();
  Mirror mirror(repository, worker.state_dir);
  const auto fetched = mirror.fetch(std::chrono::seconds(30));
  ASSERT_TRUE(std::holds_alternative<std::string>(fetched));
  const auto commit = std::get<std::string>(fetched);
  auto applier = make_applier(repository, target, worker, mirror);
  const fs::path snapshot = fs::path(worker.state_dir) / "applied" / "repo" / "site.snapshot";
  auto inode = [&] {
    struct stat st {};
    return ::stat(snapshot.c_str(), &st) == 0 ? st.st_ino : ino_t{0};
  };

  ASSERT_TRUE(std::holds_alternative<InSync>(applier->check_drift(commit, "", {})));
  const ino_t stored = inode();
  ASSERT_NE(stored, 0u);
  ASSERT_TRUE(std::holds_alternative<InSync>(applier->check_drift(commit, "", {})));
  EXPECT_EQ(inode(), stored);  // trusted, not taken again

  const auto applied = applier->apply(
      {.commit = commit, .tree = *mirror.subtree_id(commit, "site"), .full = true}, {});
  ASSERT_TRUE(std::holds_alternative<Applied>(applied));
  EXPECT_FALSE(fs::exists(snapshot));

  ASSERT_TRUE(std::holds_alternative<InSync>(applier->check_drift(commit, "", {})));
  ASSERT_TRUE(fs::exists(snapshot));  // nothing was written: dest is still aged
  write_text(dest_ / "sub" / "keep.txt", "edited\n");
  EXPECT_TRUE(std::holds_alternative<DriftFound>(applier->check_drift(commit, "", {})));
  EXPECT_FALSE(fs::exists(snapshot));
}

}  // namespace
}  // namespace gitopsd::worker
