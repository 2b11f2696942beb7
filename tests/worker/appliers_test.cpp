#include "gitopsd/worker/command_runner.hpp"
#include "gitopsd/worker/files_sync.hpp"
#include "gitopsd/worker/process_group_record.hpp"

#include <gmock/gmock.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "temp_root.hpp"

namespace gitopsd::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

using test::read_text;
using test::write_text;

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

using test::TempRoot;

class FilesApplierTest : public ::testing::Test {
 protected:
  FilesApplierTest() : dest_(root_.path() / "dest"), outside_(root_.path() / "outside") {
    fs::create_directory(outside_);
    write_text(outside_ / "keep.txt", "outside\n");
  }

  TreeFile file(const std::string& path, const std::string& content,
                FileKind kind = FileKind::regular) {
    const std::string id = git_blob_id(content);
    blobs_[id] = content;
    return TreeFile{path, kind, id};
  }

  BlobSource reader() {
    return {[this](const std::string& id) -> std::variant<std::uint64_t, GitError> {
              const auto it = blobs_.find(id);
              if (it == blobs_.end()) return GitError{"no blob " + id, false};
              return it->second.size();
            },
            [this](const std::string& id) -> std::variant<BlobData, GitError> {
              ++reads_[id];
              const auto it = blobs_.find(id);
              if (it == blobs_.end()) return GitError{"no blob " + id, false};
              return BlobData{it->second, nullptr};
            }};
  }

  int reads_of(const std::string& content) { return reads_[git_blob_id(content)]; }

  FilesOutcome apply(const std::vector<TreeFile>& files, bool verify_only = false) {
    return apply_files(dest_.string(), files, reader(), options_, verify_only);
  }

  // Every entry under `dir`, relative, without following symlinks.
  static std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> out;
    if (!fs::exists(fs::symlink_status(dir))) return out;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
         ++it) {
      out.push_back(it->path().lexically_relative(dir).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static bool executable(const fs::path& path) {
    return (fs::symlink_status(path).permissions() & fs::perms::owner_exec) != fs::perms::none;
  }

  // Every entry under `dir` (dest's parent included, so a stage left beside dest shows):
  // path -> kind, mode and content or symlink target.
  static std::map<std::string, std::string> snapshot(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
         ++it) {
      struct stat st {};
      EXPECT_EQ(::lstat(it->path().c_str(), &st), 0) << it->path();
      std::string entry = std::to_string(st.st_mode & 07777) + " ";
      if (S_ISLNK(st.st_mode)) {
        entry += "link " + fs::read_symlink(it->path()).string();
      } else if (S_ISDIR(st.st_mode)) {
        entry += "dir";
      } else {
        entry += "file " + read_text(it->path());
      }
      out[it->path().lexically_relative(dir).string()] = entry;
    }
    return out;
  }

  // dest as a commit left it: a changed file, a kept one, an executable, a symlink.
  void deploy_first_commit() {
    ASSERT_TRUE(apply({file("index.html", "<h1>v1</h1>\n"), file("sub/keep.txt", "keep\n"),
                       file("bin/run.sh", "#!/bin/sh\n", FileKind::executable),
                       file("home", "index.html", FileKind::symlink)})
                    .ok);
  }

  // The next commit: index.html changes, and a file the filesystem cannot create is added
  // (`where` it goes: top level, a new directory, or an existing one).
  std::vector<TreeFile> next_commit_with_long_name(const std::string& where) {
    return {file("index.html", "<h1>v2</h1>\n"), file("sub/keep.txt", "keep\n"),
            file("bin/run.sh", "#!/bin/sh\n", FileKind::executable),
            file("home", "index.html", FileKind::symlink), file("news/today.html", "today\n"),
            file(where + std::string(300, 'n') + ".html", "long\n")};
  }

  TempRoot root_;
  fs::path dest_;
  fs::path outside_;
  std::map<std::string, std::string> blobs_;
  std::map<std::string, int> reads_;
  FilesOptions options_;
};

TEST_F(FilesApplierTest, ComputesBlobIdsAsGitDoes) {
  // `printf 'hello\n' | git hash-object --stdin` and the empty blob.
  EXPECT_EQ(git_blob_id("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
  EXPECT_EQ(git_blob_id(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST_F(FilesApplierTest, MakesEmptyDestHoldTheTree) {
  const auto outcome =
      apply({file("index.html", "<h1>hi</h1>\n"),
             file("bin/run.sh", "#!/bin/sh\necho run\n", FileKind::executable),
             file("a/b/c/deep.txt", "deep\n"), file("a/link", "b/c/deep.txt", FileKind::symlink)});

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.written, 4u);
  EXPECT_EQ(outcome.removed, 0u);
  EXPECT_EQ(outcome.unchanged, 0u);
  EXPECT_EQ(read_text(dest_ / "index.html"), "<h1>hi</h1>\n");
  EXPECT_EQ(read_text(dest_ / "a/b/c/deep.txt"), "deep\n");
  EXPECT_TRUE(executable(dest_ / "bin/run.sh"));
  EXPECT_FALSE(executable(dest_ / "index.html"));
  ASSERT_TRUE(fs::is_symlink(dest_ / "a/link"));
  EXPECT_EQ(fs::read_symlink(dest_ / "a/link"), "b/c/deep.txt");
  EXPECT_EQ(read_text(dest_ / "a/link"), "deep\n");
  EXPECT_EQ(entries(dest_),
            (std::vector<std::string>{"a", "a/b", "a/b/c", "a/b/c/deep.txt", "a/link", "bin",
                                      "bin/run.sh", "index.html"}));
}

TEST_F(FilesApplierTest, ReplacesChangedFilesAndKeepsUnchangedOnes) {
  ASSERT_TRUE(apply({file("same.txt", "same\n"), file("dir/changes.txt", "v1\n")}).ok);
  reads_.clear();

  const auto outcome = apply({file("same.txt", "same\n"), file("dir/changes.txt", "v2\n")});

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.written, 1u);
  EXPECT_EQ(outcome.unchanged, 1u);
  EXPECT_EQ(outcome.removed, 0u);
  EXPECT_EQ(read_text(dest_ / "dir/changes.txt"), "v2\n");
  EXPECT_EQ(reads_of("same\n"), 0);
  EXPECT_EQ(reads_of("v2\n"), 1);
}

TEST_F(FilesApplierTest, DeletesFilesNotInTheTree) {
  ASSERT_TRUE(
      apply({file("keep.txt", "k\n"), file("old/nested/gone.txt", "g\n"), file("old.txt", "o\n")})
          .ok);
  fs::create_directories(dest_ / "empty/inner");

  const auto outcome = apply({file("keep.txt", "k\n")});

  ASSERT_TRUE(outcome.ok) << outcome.error;
  // old, old/nested, old/nested/gone.txt, old.txt, empty, empty/inner
  EXPECT_EQ(outcome.removed, 6u);
  EXPECT_EQ(outcome.unchanged, 1u);
  EXPECT_EQ(outcome.written, 0u);
  EXPECT_EQ(entries(dest_), std::vector<std::string>{"keep.txt"});
}

TEST_F(FilesApplierTest, RestoresFileEditedAddedAndDeletedByHand) {
  const std::vector<TreeFile> tree = {file("a.txt", "a\n"), file("sub/b.txt", "b\n"),
                                      file("sub/c.txt", "c\n")};
  ASSERT_TRUE(apply(tree).ok);
  write_text(dest_ / "a.txt", "edited by hand\n");
  write_text(dest_ / "sub/added.txt", "added by hand\n");
  fs::remove(dest_ / "sub/c.txt");

  const auto outcome = apply(tree);

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.written, 2u);
  EXPECT_EQ(outcome.removed, 1u);
  EXPECT_EQ(outcome.unchanged, 1u);
  EXPECT_EQ(read_text(dest_ / "a.txt"), "a\n");
  EXPECT_EQ(read_text(dest_ / "sub/c.txt"), "c\n");
  EXPECT_EQ(entries(dest_), (std::vector<std::string>{"a.txt", "sub", "sub/b.txt", "sub/c.txt"}));
}

TEST_F(FilesApplierTest, ChangesTouchOnlyTheChangedPaths) {
  ASSERT_TRUE(apply({file("same.txt", "same\n"), file("edit.txt", "v1\n"),
                     file("old/nested/gone.txt", "g\n"), file("file_then_dir", "f\n")})
                  .ok);
  // Drift outside the change is not this apply's business (the resync check finds it).
  write_text(dest_ / "same.txt", "edited by hand\n");
  reads_.clear();

  const std::vector<TreeFile> next = {file("same.txt", "same\n"), file("edit.txt", "v2\n"),
                                      file("file_then_dir/inside.txt", "i\n"),
                                      file("new/added.sh", "#!/bin/sh\n", FileKind::executable)};
  const auto outcome = apply_file_changes(
      dest_.string(), next,
      {"edit.txt", "file_then_dir", "file_then_dir/inside.txt", "new/added.sh",
       "old/nested/gone.txt"},
      reader());

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.written, 3u);
  EXPECT_EQ(outcome.removed, 3u);  // old/nested/gone.txt, then the emptied old/nested and old
  EXPECT_EQ(outcome.unchanged, 1u);
  EXPECT_EQ(read_text(dest_ / "edit.txt"), "v2\n");
  EXPECT_EQ(read_text(dest_ / "file_then_dir/inside.txt"), "i\n");
  EXPECT_TRUE(executable(dest_ / "new/added.sh"));
  EXPECT_EQ(read_text(dest_ / "same.txt"), "edited by hand\n");
  EXPECT_EQ(reads_of("same\n"), 0);
  EXPECT_EQ(entries(dest_),
            (std::vector<std::string>{"edit.txt", "file_then_dir", "file_then_dir/inside.txt",
                                      "new", "new/added.sh", "same.txt"}));
}

TEST_F(FilesApplierTest, ChangesKeepADirectoryTheTreeStillHas) {
  ASSERT_TRUE(apply({file("dir/a.txt", "a\n"), file("dir/b.txt", "b\n")}).ok);

  const auto outcome =
      apply_file_changes(dest_.string(), {file("dir/a.txt", "a\n")}, {"dir/b.txt"}, reader());

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.removed, 1u);
  EXPECT_EQ(entries(dest_), (std::vector<std::string>{"dir", "dir/a.txt"}));
}

TEST_F(FilesApplierTest, ChangesAreRefusedLikeAFullApply) {
  ASSERT_TRUE(apply({file("a.txt", "a\n")}).ok);

  const auto outcome = apply_file_changes(
      dest_.string(), {file("a.txt", "a\n"), file("escape", "../outside/keep.txt", FileKind::symlink)},
      {"escape"}, reader());

  EXPECT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.error, HasSubstr("escapes"));
  EXPECT_EQ(entries(dest_), std::vector<std::string>{"a.txt"});
}

TEST_F(FilesApplierTest, ChangesIntoAMissingDestApplyTheWholeTree) {
  const auto outcome = apply_file_changes(
      dest_.string(), {file("a.txt", "a\n"), file("b/c.txt", "c\n")}, {"a.txt"}, reader());

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(entries(dest_), (std::vector<std::string>{"a.txt", "b", "b/c.txt"}));
}

TEST_F(FilesApplierTest, ChangesDoNotDeleteThroughASymlinkInDest) {
  ASSERT_TRUE(apply({file("dir/a.txt", "a\n")}).ok);
  fs::remove_all(dest_ / "dir");
  fs::create_directory_symlink(outside_, dest_ / "dir");

  const auto outcome = apply_file_changes(dest_.string(), {}, {"dir/keep.txt"}, reader());

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(read_text(outside_ / "keep.txt"), "outside\n");
}

TEST_F(FilesApplierTest, VerifyOnlyReportsDriftWithoutWriting) {
  const std::vector<TreeFile> tree = {file("a.txt", "a\n"), file("b.txt", "b\n"),
                                      file("c.txt", "c\n")};
  ASSERT_TRUE(apply(tree).ok);
  write_text(dest_ / "a.txt", "edited\n");
  write_text(dest_ / "extra.txt", "extra\n");
  fs::remove(dest_ / "c.txt");
  reads_.clear();

  const auto drift = apply(tree, /*verify_only=*/true);

  ASSERT_TRUE(drift.ok) << drift.error;
  EXPECT_EQ(drift.written, 2u);
  EXPECT_EQ(drift.removed, 1u);
  EXPECT_EQ(drift.unchanged, 1u);
  EXPECT_TRUE(reads_.empty());
  EXPECT_EQ(read_text(dest_ / "a.txt"), "edited\n");
  EXPECT_EQ(entries(dest_), (std::vector<std::string>{"a.txt", "b.txt", "extra.txt"}));

  ASSERT_TRUE(apply(tree).ok);
  const auto clean = apply(tree, /*verify_only=*/true);
  ASSERT_TRUE(clean.ok) << clean.error;
  EXPECT_EQ(clean.written + clean.removed, 0u);
  EXPECT_EQ(clean.unchanged, 3u);
}

TEST_F(FilesApplierTest, RefusesDotDotPathAndWritesNothing) {
  const auto outcome = apply({file("fine.txt", "fine\n"), file("sub/../../outside/evil.txt", "x")});

  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.error, "path escapes dest: sub/../../outside/evil.txt");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest_)));
  EXPECT_EQ(entries(outside_), std::vector<std::string>{"keep.txt"});
  EXPECT_EQ(entries(root_.path()), (std::vector<std::string>{"outside", "outside/keep.txt"}));
  EXPECT_EQ(outcome.written, 0u);
}

TEST_F(FilesApplierTest, RefusesAbsolutePath) {
  const auto target = (outside_ / "abs.txt").string();
  const auto outcome = apply({file("fine.txt", "fine\n"), file(target, "x")});

  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.error, "path escapes dest: " + target);
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest_)));
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(FilesApplierTest, RefusesEmptyAndDotComponents) {
  for (const std::string path : {"", "a//b", "./a", "a/.", "a/"}) {
    const auto outcome = apply({file(path, "x")});
    EXPECT_FALSE(outcome.ok) << path;
    EXPECT_THAT(outcome.error, HasSubstr("invalid path")) << path;
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest_)));
}

TEST_F(FilesApplierTest, AcceptsBackslashAsAnOrdinaryCharacter) {
  const auto outcome = apply({file("a\\..\\b.txt", "x\n")});
  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(read_text(dest_ / "a\\..\\b.txt"), "x\n");
}

TEST_F(FilesApplierTest, RefusesSymlinkEscapingDest) {
  for (const std::string target :
       {"../../etc/passwd", "/etc/passwd", "../../outside", "./../x/../../y"}) {
    const auto outcome =
        apply({file("fine.txt", "fine\n"), file("sub/link", target, FileKind::symlink)});
    EXPECT_FALSE(outcome.ok) << target;
    EXPECT_EQ(outcome.error, "symlink escapes dest: sub/link -> " + target);
    EXPECT_TRUE(outcome.refused) << target;
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest_)));
  EXPECT_EQ(entries(outside_), std::vector<std::string>{"keep.txt"});
}

TEST_F(FilesApplierTest, RefusesSymlinkChainEscapingDest) {
  // Each alone stays inside lexically; together `b` reaches dest's parent.
  const auto outcome =
      apply({file("x/l", "..", FileKind::symlink), file("b", "x/l/..", FileKind::symlink)});
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.error, "symlink escapes dest: b -> x/l/..");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest_)));
}

TEST_F(FilesApplierTest, AcceptsSymlinkClimbingWithinDest) {
  const auto outcome =
      apply({file("a/b/up", "../../top.txt", FileKind::symlink), file("top.txt", "top\n")});
  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(read_text(dest_ / "a/b/up"), "top\n");
}

TEST_F(FilesApplierTest, DoesNotWriteThroughASymlinkPlacedInDest) {
  ASSERT_TRUE(apply({file("conf/app.conf", "v1\n")}).ok);
  fs::remove_all(dest_ / "conf");
  fs::create_directory_symlink(outside_, dest_ / "conf");
  fs::create_symlink(outside_ / "keep.txt", dest_ / "top.txt");

  const auto outcome = apply({file("conf/app.conf", "v2\n"), file("top.txt", "top\n")});

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(entries(outside_), std::vector<std::string>{"keep.txt"});
  EXPECT_EQ(read_text(outside_ / "keep.txt"), "outside\n");
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(dest_ / "conf")));
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dest_ / "top.txt")));
  EXPECT_EQ(read_text(dest_ / "conf/app.conf"), "v2\n");
  EXPECT_EQ(read_text(dest_ / "top.txt"), "top\n");
}

TEST_F(FilesApplierTest, DeletesSymlinkWithoutFollowingIt) {
  ASSERT_TRUE(apply({file("a.txt", "a\n")}).ok);
  fs::create_directory_symlink(outside_, dest_ / "evil-dir");

  const auto outcome = apply({file("a.txt", "a\n")});

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.removed, 1u);
  EXPECT_EQ(entries(dest_), std::vector<std::string>{"a.txt"});
  EXPECT_EQ(entries(outside_), std::vector<std::string>{"keep.txt"});
}

TEST_F(FilesApplierTest, ReplacesDirectoryThatShouldBeAFile) {
  fs::create_directories(dest_ / "thing/inner");
  write_text(dest_ / "thing/inner/x.txt", "x\n");

  const auto outcome = apply({file("thing", "now a file\n")});

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.removed, 3u);
  EXPECT_EQ(outcome.written, 1u);
  EXPECT_EQ(read_text(dest_ / "thing"), "now a file\n");
}

TEST_F(FilesApplierTest, ReplacesFileAtomically) {
  ASSERT_TRUE(apply({file("dir/f.txt", "v1\n")}).ok);
  const auto inode_before = [&] {
    struct stat st {};
    ::lstat((dest_ / "dir/f.txt").c_str(), &st);
    return st.st_ino;
  }();
  // Keeps the old inode alive so the new file cannot reuse its number.
  std::ifstream held(dest_ / "dir/f.txt");

  ASSERT_TRUE(apply({file("dir/f.txt", "v2\n")}).ok);

  struct stat after {};
  ASSERT_EQ(::lstat((dest_ / "dir/f.txt").c_str(), &after), 0);
  EXPECT_NE(after.st_ino, inode_before);
  EXPECT_EQ(read_text(dest_ / "dir/f.txt"), "v2\n");
  std::string old_content;
  std::getline(held, old_content);
  EXPECT_EQ(old_content, "v1");
  EXPECT_EQ(entries(dest_), (std::vector<std::string>{"dir", "dir/f.txt"}));
}

TEST_F(FilesApplierTest, ExecutableBitFollowsTheTree) {
  ASSERT_TRUE(apply({file("run.sh", "#!/bin/sh\n")}).ok);
  EXPECT_FALSE(executable(dest_ / "run.sh"));
  reads_.clear();

  const auto outcome = apply({file("run.sh", "#!/bin/sh\n", FileKind::executable)});

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.written, 1u);
  EXPECT_TRUE(executable(dest_ / "run.sh"));
  EXPECT_EQ(reads_of("#!/bin/sh\n"), 0);

  ASSERT_TRUE(apply({file("run.sh", "#!/bin/sh\n")}).ok);
  EXPECT_FALSE(executable(dest_ / "run.sh"));
}

TEST_F(FilesApplierTest, ReportsUnreadableBlob) {
  const auto outcome = apply_files(
      dest_.string(), {TreeFile{"a.txt", FileKind::regular, std::string(40, '0')}}, reader());
  EXPECT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.error, HasSubstr("cannot read blob"));
}

TEST_F(FilesApplierTest, ChecksOutIntoAFreshDirectoryOnly) {
  const auto dir = root_.path() / "checkout";
  const auto outcome = checkout_files(dir.string(), {file("x/y.txt", "y\n")}, reader());
  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(read_text(dir / "x/y.txt"), "y\n");

  const auto again = checkout_files(dir.string(), {file("x/y.txt", "y\n")}, reader());
  EXPECT_FALSE(again.ok);
  EXPECT_THAT(again.error, HasSubstr("not empty"));
}

// Issue 10 item 13: a commit the filesystem cannot take in full leaves dest as it was.
TEST_F(FilesApplierTest, FailedApplyLeavesDestByteForByteAsItWas) {
  for (const auto mode : {FilesSwitch::per_file, FilesSwitch::exchange}) {
    for (const std::string where : {"", "newdir/", "sub/"}) {
      options_ = {};
      deploy_first_commit();
      const auto before = snapshot(root_.path());
      options_.switch_mode = mode;

      const auto outcome = apply(next_commit_with_long_name(where));

      EXPECT_FALSE(outcome.ok) << where;
      EXPECT_THAT(outcome.error, HasSubstr("File name too long")) << where;
      EXPECT_FALSE(outcome.refused) << where;  // the filesystem's verdict, not the tree's
      EXPECT_EQ(snapshot(root_.path()), before) << where;
    }
  }
}

TEST_F(FilesApplierTest, FailedChangesLeaveDestByteForByteAsItWas) {
  for (const auto mode : {FilesSwitch::per_file, FilesSwitch::exchange}) {
    for (const std::string where : {"", "newdir/", "sub/"}) {
      options_ = {};
      deploy_first_commit();
      const auto before = snapshot(root_.path());
      options_.switch_mode = mode;
      const auto next = next_commit_with_long_name(where);

      const auto outcome = apply_file_changes(
          dest_.string(), next, {"index.html", "news/today.html", next.back().path}, reader(),
          options_);

      EXPECT_FALSE(outcome.ok) << where;
      EXPECT_THAT(outcome.error, HasSubstr("File name too long")) << where;
      EXPECT_EQ(snapshot(root_.path()), before) << where;
    }
  }
}

TEST_F(FilesApplierTest, FailedApplyIntoMissingDestLeavesNothing) {
  for (const auto mode : {FilesSwitch::per_file, FilesSwitch::exchange}) {
    options_.switch_mode = mode;
    const auto before = snapshot(root_.path());

    const auto outcome = apply(next_commit_with_long_name("newdir/"));

    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(snapshot(root_.path()), before);
  }
}

TEST_F(FilesApplierTest, ReplacesEntriesOfAnotherKindOnlyOnceAllAreStaged) {
  // A file where the tree now has a directory and the reverse, with a failure after them.
  ASSERT_TRUE(apply({file("a", "file\n"), file("b/inner.txt", "inner\n")}).ok);
  const auto before = snapshot(root_.path());

  const auto outcome = apply({file("a/now-a-dir.txt", "x\n"), file("b", "now a file\n"),
                              file(std::string(300, 'z'), "long\n")});

  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(snapshot(root_.path()), before);
  ASSERT_TRUE(apply({file("a/now-a-dir.txt", "x\n"), file("b", "now a file\n")}).ok);
  EXPECT_EQ(entries(dest_), (std::vector<std::string>{"a", "a/now-a-dir.txt", "b"}));
}

// Issue 10 item 15.
TEST_F(FilesApplierTest, RefusesBlobOverMaxFileBytesBeforeReadingIt) {
  for (const auto mode : {FilesSwitch::per_file, FilesSwitch::exchange}) {
    options_ = {};
    deploy_first_commit();
    const auto before = snapshot(root_.path());
    options_.switch_mode = mode;
    options_.max_file_bytes = 10;

    const auto outcome = apply({file("index.html", "<h1>v2</h1>\n"), file("big.bin", "12345678901")});

    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.error, "file too large: big.bin is 11 bytes, over worker.max_file_bytes (10)");
    EXPECT_TRUE(outcome.refused);  // no retry of the same commit can fit it
    EXPECT_EQ(reads_of("12345678901"), 0);
    EXPECT_EQ(snapshot(root_.path()), before);
  }
  options_.max_file_bytes = 11;
  EXPECT_TRUE(apply({file("big.bin", "12345678901")}).ok);
}

// Issue 10 item 14.
TEST_F(FilesApplierTest, RefusesDotGitInAnyCaseAndItsWindowsSpellings) {
  for (const std::string path :
       {"site/.git/config", ".git/config", ".GIT/config", "a/.Git/hooks/x", ".git", "a/.git. /x",
        ".git ", "GIT~1/config", ".git::$INDEX_ALLOCATION/config"}) {
    const auto outcome = apply({file("fine.txt", "fine\n"), file(path, "[core]\n\tfsmonitor = x\n")});
    EXPECT_FALSE(outcome.ok) << path;
    EXPECT_EQ(outcome.error, "path has a .git component: " + path);
    EXPECT_TRUE(outcome.refused) << path;
  }
  const auto link = apply({file("fine.txt", "fine\n"), file("site/.git", "x", FileKind::symlink)});
  EXPECT_EQ(link.error, "path has a .git component: site/.git");
  const auto target =
      apply({file("fine.txt", "fine\n"), file("cfg", "sub/.GIT/config", FileKind::symlink)});
  EXPECT_EQ(target.error, "symlink target has a .git component: cfg -> sub/.GIT/config");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest_)));
}

TEST_F(FilesApplierTest, ChangesRefuseDotGitBeforeWritingAnything) {
  deploy_first_commit();
  const auto before = snapshot(root_.path());
  const auto outcome = apply_file_changes(
      dest_.string(), {file("index.html", "<h1>v2</h1>\n"), file("site/.git/config", "x")},
      {"index.html", "site/.git/config"}, reader());
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.error, "path has a .git component: site/.git/config");
  EXPECT_EQ(snapshot(root_.path()), before);
}

TEST(CheckTreePathTest, AcceptsNamesThatOnlyLookLikeGit) {
  for (const std::string path : {".github/workflows/ci.yml", ".gitignore", ".gitkeep", "git/x",
                                 "a/repo.git/HEAD", "..git", "git~2", ".git-blame-ignore-revs"}) {
    EXPECT_EQ(check_tree_path(path), std::nullopt) << path;
  }
  EXPECT_EQ(check_tree_path("../x"), "path escapes dest: ../x");
  EXPECT_EQ(check_tree_path(std::string_view("a\0b", 3)), std::string("invalid path: a\0b", 17));
}

TEST_F(FilesApplierTest, ExchangeSwitchesTheWholeTreeAndHardLinksUnchangedFiles) {
  deploy_first_commit();
  struct stat kept_before {};
  struct stat dest_before {};
  ASSERT_EQ(::lstat((dest_ / "sub/keep.txt").c_str(), &kept_before), 0);
  ASSERT_EQ(::lstat(dest_.c_str(), &dest_before), 0);
  fs::permissions(dest_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  options_.switch_mode = FilesSwitch::exchange;
  reads_.clear();

  const std::vector<TreeFile> next = {file("index.html", "<h1>v2</h1>\n"),
                                      file("sub/keep.txt", "keep\n"),
                                      file("bin/run.sh", "#!/bin/sh\n", FileKind::executable)};
  const auto outcome =
      apply_file_changes(dest_.string(), next, {"home", "index.html"}, reader(), options_);

  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.written, 1u);
  EXPECT_EQ(outcome.removed, 1u);
  EXPECT_EQ(outcome.unchanged, 2u);
  struct stat kept_after {};
  struct stat dest_after {};
  ASSERT_EQ(::lstat((dest_ / "sub/keep.txt").c_str(), &kept_after), 0);
  ASSERT_EQ(::lstat(dest_.c_str(), &dest_after), 0);
  EXPECT_EQ(kept_after.st_ino, kept_before.st_ino);  // linked, not rewritten
  EXPECT_EQ(reads_of("keep\n"), 0);
  EXPECT_NE(dest_after.st_ino, dest_before.st_ino);  // a new directory took dest's place
  EXPECT_EQ(dest_after.st_mode & 07777, 0750u);
  EXPECT_EQ(read_text(dest_ / "index.html"), "<h1>v2</h1>\n");
  EXPECT_TRUE(executable(dest_ / "bin/run.sh"));
  EXPECT_EQ(entries(root_.path()),
            (std::vector<std::string>{"dest", "dest/bin", "dest/bin/run.sh", "dest/index.html",
                                      "dest/sub", "dest/sub/keep.txt", "outside",
                                      "outside/keep.txt"}));

  // The full form compares every file: a file edited in dest is written fresh, not linked.
  write_text(dest_ / "sub/keep.txt", "edited\n");
  const auto full = apply(next);
  ASSERT_TRUE(full.ok) << full.error;
  EXPECT_EQ(full.written, 1u);
  EXPECT_EQ(read_text(dest_ / "sub/keep.txt"), "keep\n");
}

TEST_F(FilesApplierTest, ExchangeFollowsASymlinkedDestAndRemovesALeftoverStage) {
  const auto real = root_.path() / "releases";
  fs::create_directory(real);
  fs::create_directory_symlink(real, dest_);
  fs::create_directories(root_.path() / ".releases.gitopsd-stage-1-1/half");
  options_.switch_mode = FilesSwitch::exchange;

  const auto outcome = apply({file("a.txt", "a\n")});
  ASSERT_TRUE(outcome.ok) << outcome.error;
  ASSERT_TRUE(fs::is_symlink(dest_));
  EXPECT_EQ(read_text(real / "a.txt"), "a\n");
  EXPECT_EQ(entries(root_.path()),
            (std::vector<std::string>{"dest", "outside", "outside/keep.txt", "releases",
                                      "releases/a.txt"}));
}

class RunCommandTest : public ::testing::Test {
 protected:
  CommandSpec spec(std::vector<std::string> argv) {
    CommandSpec out;
    out.argv = std::move(argv);
    out.working_dir = root_.path().string();
    out.env = command_environment({{"GITOPSD_COMMIT", "0123abcd"}});
    out.timeout = std::chrono::seconds(30);
    return out;
  }

  static bool process_gone(pid_t pid) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    // A killed child reparented to an init that has not reaped it yet is a zombie.
    const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    const auto close_paren = stat.rfind(')');
    return close_paren != std::string::npos && close_paren + 2 < stat.size() &&
           (stat[close_paren + 2] == 'Z' || stat[close_paren + 2] == 'X');
  }

  TempRoot root_;
};

TEST_F(RunCommandTest, CapturesExitCodeAndOutputTail) {
  auto command = spec({"/bin/sh", "-c",
                       "i=0; while [ $i -lt 1000 ]; do echo line$i; i=$((i+1)); done; "
                       "echo err >&2; exit 3"});
  command.tail_bytes = 100;

  const auto result = run_command(command);

  ASSERT_TRUE(result.started) << result.error;
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.signal, 0);
  EXPECT_FALSE(result.timed_out);
  EXPECT_FALSE(result.stopped);
  EXPECT_EQ(result.output_tail.size(), 100u);
  EXPECT_THAT(result.output_tail, ::testing::EndsWith("line998\nline999\nerr\n"));
}

TEST_F(RunCommandTest, PassesOnlyTheGivenEnvironment) {
  ASSERT_EQ(::setenv("GITOPSD_TEST_SECRET", "hunter2", 1), 0);
  const auto result = run_command(spec({"env"}));  // found through the command's PATH
  ::unsetenv("GITOPSD_TEST_SECRET");

  ASSERT_TRUE(result.started) << result.error;
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.output_tail, HasSubstr("GITOPSD_COMMIT=0123abcd\n"));
  EXPECT_THAT(result.output_tail, HasSubstr("PATH="));
  EXPECT_THAT(result.output_tail, Not(HasSubstr("GITOPSD_TEST_SECRET")));
}

TEST_F(RunCommandTest, RunsInTheWorkingDirectory) {
  const auto result = run_command(spec({"/bin/pwd"}));

  ASSERT_TRUE(result.started) << result.error;
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output_tail, fs::canonical(root_.path()).string() + "\n");
}

TEST_F(RunCommandTest, InheritsNoDescriptorOfTheDaemon) {
  // A descriptor without O_CLOEXEC, like a socket a library opened.
  const int opened = ::open("/dev/null", O_RDONLY);
  const int inherited = ::dup2(opened, 100);  // far above what ls opens itself
  ::close(opened);
  ASSERT_EQ(inherited, 100);
  const auto result = run_command(spec({"/bin/ls", "/proc/self/fd"}));
  ::close(inherited);

  ASSERT_TRUE(result.started) << result.error;
  // ls sees 0, 1, 2 and the directory it lists, nothing of ours.
  EXPECT_EQ(result.output_tail.find(std::to_string(inherited) + "\n"), std::string::npos)
      << result.output_tail;
}

TEST_F(RunCommandTest, KillsTheWholeProcessGroupOnTimeout) {
  const auto pid_file = root_.path() / "child.pid";
  auto command = spec({"/bin/sh", "-c", "sleep 100 & echo $! > child.pid; sleep 100"});
  command.timeout = std::chrono::milliseconds(1000);

  const auto result = run_command(command);

  ASSERT_TRUE(result.started) << result.error;
  EXPECT_TRUE(result.timed_out);
  EXPECT_FALSE(result.stopped);
  EXPECT_EQ(result.signal, SIGTERM);
  EXPECT_LT(result.duration, std::chrono::seconds(5));
  const std::string child_pid = read_text(pid_file);
  ASSERT_FALSE(child_pid.empty()) << "the command did not get to start its child";
  const pid_t child = std::stoi(child_pid);
  EXPECT_TRUE(wait_until([&] { return process_gone(child); }, std::chrono::seconds(5)));
}

TEST_F(RunCommandTest, EscalatesToSigkillWhenSigtermIsIgnored) {
  const auto marker = root_.path() / "trapped";
  std::stop_source stop;
  std::jthread stopper([&] {
    wait_until([&] { return fs::exists(marker); }, std::chrono::seconds(10));
    stop.request_stop();
  });

  const auto result =
      run_command(spec({"/bin/sh", "-c", "trap '' TERM; touch trapped; while :; do sleep 1; done"}),
                  stop.get_token());

  ASSERT_TRUE(result.started) << result.error;
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_GE(result.duration, std::chrono::seconds(5));
}

TEST_F(RunCommandTest, StopTokenKillsTheCommand) {
  const auto marker = root_.path() / "started";
  std::stop_source stop;
  std::jthread stopper([&] {
    wait_until([&] { return fs::exists(marker); }, std::chrono::seconds(10));
    stop.request_stop();
  });

  const auto result =
      run_command(spec({"/bin/sh", "-c", "touch started; sleep 100"}), stop.get_token());

  ASSERT_TRUE(result.started) << result.error;
  EXPECT_TRUE(result.stopped);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.signal, SIGTERM);
  EXPECT_LT(result.duration, std::chrono::seconds(10));
}

// A process group like the one a SIGKILLed worker leaves behind: `script` run by /bin/sh in a
// group of its own, recorded in `group_file` as run_command records its own.
pid_t start_leftover_group(const std::string& script, const fs::path& group_file) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: the group must exist before the record is written
  std::string stat;
  wait_until([&] {
    stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    return !stat.empty();
  }, std::chrono::seconds(5));
  std::istringstream fields(stat.substr(stat.rfind(')') + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) fields >> field;  // field 22: start time
  write_text(group_file, std::to_string(pid) + " " + field + "\n");
  return pid;
}

TEST_F(RunCommandTest, WaitsForTheCommandALostWorkerLeftRunningBeforeStarting) {
  const auto runs = root_.path() / "runs";
  const auto group_file = root_.path() / "group";
  const pid_t leftover = start_leftover_group(
      "echo old-start >> " + runs.string() + "; sleep 1; echo old-end >> " + runs.string(), group_file);
  auto next = spec({"/bin/sh", "-c", "echo new >> " + runs.string()});
  next.group_file = group_file.string();

  const auto result = run_command(next);

  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(read_text(runs), "old-start\nold-end\nnew\n");
  EXPECT_FALSE(fs::exists(group_file));
  ::waitpid(leftover, nullptr, 0);
}

TEST_F(RunCommandTest, KillsTheCommandALostWorkerLeftRunningOnceTheTimeoutPasses) {
  const auto runs = root_.path() / "runs";
  const auto group_file = root_.path() / "group";
  const pid_t leftover = start_leftover_group("sleep 60; echo old >> " + runs.string(), group_file);
  auto next = spec({"/bin/sh", "-c", "echo new >> " + runs.string()});
  next.group_file = group_file.string();
  next.timeout = std::chrono::seconds(1);

  const auto result = run_command(next);

  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(read_text(runs), "new\n");
  int status = 0;
  ASSERT_EQ(::waitpid(leftover, &status, 0), leftover);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST_F(RunCommandTest, RecordsItsGroupWhileRunningAndIgnoresAStaleRecord) {
  const auto group_file = root_.path() / "group";
  write_text(group_file, "999999 12345\n");  // a group long gone
  // The record is written just after the spawn: the command waits for it.
  auto command = spec({"/bin/sh", "-c", "while [ ! -s " + group_file.string() +
                                            " ]; do sleep 0.01; done; cat " + group_file.string()});
  command.group_file = group_file.string();

  const auto result = run_command(command);

  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.output_tail, Not(HasSubstr("999999")));
  EXPECT_THAT(result.output_tail, ::testing::MatchesRegex("[0-9]+ [0-9]+\n"));
  EXPECT_FALSE(fs::exists(group_file));
}

TEST_F(RunCommandTest, ReportsCommandNotFound) {
  const auto by_name = run_command(spec({"gitopsd-no-such-command"}));
  EXPECT_FALSE(by_name.started);
  EXPECT_EQ(by_name.error, "cannot run gitopsd-no-such-command: No such file or directory");

  const auto by_path = run_command(spec({"/nonexistent/gitopsd-tool"}));
  EXPECT_FALSE(by_path.started);
  EXPECT_EQ(by_path.error, "cannot run /nonexistent/gitopsd-tool: No such file or directory");
}

TEST_F(RunCommandTest, ReturnsAfterTheCommandEvenIfABackgroundChildKeepsOutputOpen) {
  const auto result = run_command(spec({"/bin/sh", "-c", "sleep 100 & echo done"}));

  ASSERT_TRUE(result.started) << result.error;
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output_tail, "done\n");
  EXPECT_LT(result.duration, std::chrono::seconds(10));
}

TEST(CommandEnvironmentTest, KeepsOnlyPathHomeLangAndExtras) {
  ASSERT_EQ(::setenv("GITOPSD_TEST_SECRET", "hunter2", 1), 0);
  const auto env = command_environment({{"GITOPSD_TARGET", "site"}});
  ::unsetenv("GITOPSD_TEST_SECRET");

  EXPECT_FALSE(env.contains("GITOPSD_TEST_SECRET"));
  EXPECT_EQ(env.at("GITOPSD_TARGET"), "site");
  EXPECT_TRUE(env.contains("PATH"));
  for (const auto& [key, value] : env) {
    EXPECT_TRUE(key == "PATH" || key == "HOME" || key == "LANG" || key == "GITOPSD_TARGET") << key;
  }
}

}  // namespace
}  // namespace gitopsd::worker
