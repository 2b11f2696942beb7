// Mirror against real git servers on loopback: git daemon, smart HTTP with a token, sshd.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "git_servers.hpp"
#include "gitopsd/worker/mirror.hpp"
#include "silent_peers.hpp"

namespace gitopsd::worker {
namespace {

using namespace std::chrono_literals;
using test::GitDaemon;
using test::GitHttpServer;
using test::GitRepoFixture;
using test::SshGitServer;
using test::TempDir;

constexpr auto kTimeout = 20s;

class MirrorTest : public ::testing::Test {
 protected:
  Repository repository(const std::string& url) const {
    Repository r;
    r.name = repo_.name();
    r.url = url;
    r.branch = repo_.branch();
    return r;
  }

  static std::string tip_of(std::variant<std::string, GitError> result) {
    if (auto* error = std::get_if<GitError>(&result)) {
      ADD_FAILURE() << "fetch failed: " << error->message;
      return {};
    }
    return std::get<std::string>(result);
  }

  // Fetches from 127.0.0.1:port, over git:// and over http://, with a 1 s timeout: each must
  // fail retryably, saying it timed out, after at least `at_least` and within 5 s.
  void expect_fetches_time_out(int port, std::chrono::milliseconds at_least) {
    for (const std::string scheme : {"git", "http"}) {
      Mirror mirror(repository(scheme + "://127.0.0.1:" + std::to_string(port) + "/infra.git"),
                    state_dir_.path());
      const auto start = std::chrono::steady_clock::now();
      auto result = mirror.fetch(1s);
      const auto elapsed = std::chrono::steady_clock::now() - start;
      ASSERT_TRUE(std::holds_alternative<GitError>(result)) << scheme;
      const auto& error = std::get<GitError>(result);
      EXPECT_TRUE(error.retryable) << error.message;
      EXPECT_NE(error.message.find("timed out"), std::string::npos) << error.message;
      EXPECT_GE(elapsed, at_least) << scheme << ": " << error.message;
      EXPECT_LT(elapsed, 5s) << scheme;
    }
  }

  TempDir state_dir_;
  GitRepoFixture repo_{"infra", "main"};
};

TEST_F(MirrorTest, FetchOverGitProtocolReturnsTip) {
  repo_.write("envs/web/index.html", "hello\n");
  const auto sha = repo_.commit("first");
  repo_.push();
  GitDaemon daemon(repo_.served_root());
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  EXPECT_FALSE(mirror.tip());
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), sha);
  EXPECT_EQ(mirror.tip(), sha);
  EXPECT_TRUE(std::filesystem::exists(state_dir_.path() + "/mirrors/infra.git"));
  EXPECT_EQ(mirror.directory(), state_dir_.path() + "/mirrors/infra.git");
}

TEST_F(MirrorTest, SecondFetchIsIncrementalAndReturnsNewTip) {
  repo_.write("a.txt", "1\n");
  const auto first = repo_.commit("first");
  repo_.push();
  GitDaemon daemon(repo_.served_root());
  {
    Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
    EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), first);
  }
  repo_.write("a.txt", "2\n");
  const auto second = repo_.commit("second");
  repo_.push();
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  EXPECT_EQ(mirror.tip(), first);  // reopened mirror remembers the last fetch
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), second);
  EXPECT_TRUE(mirror.is_ancestor_or_same(first, second));
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), second);  // nothing new: same tip
}

TEST_F(MirrorTest, DoesNotFetchOtherBranches) {
  repo_.write("a.txt", "main\n");
  const auto main_tip = repo_.commit("main");
  repo_.push();
  repo_.checkout("feature");
  repo_.write("b.txt", "feature\n");
  const auto feature_tip = repo_.commit("feature");
  repo_.push("feature");
  GitDaemon daemon(repo_.served_root());
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), main_tip);
  EXPECT_FALSE(mirror.is_ancestor_or_same(feature_tip, main_tip));
  EXPECT_FALSE(mirror.subtree_id(feature_tip, ""));  // object never downloaded
  EXPECT_FALSE(
      std::filesystem::exists(state_dir_.path() + "/mirrors/infra.git/refs/heads/feature"));
}

TEST_F(MirrorTest, IsAncestorOrSameFollowsTheBranchHistory) {
  repo_.write("a.txt", "1\n");
  const auto c1 = repo_.commit("c1");
  repo_.write("a.txt", "2\n");
  const auto c2 = repo_.commit("c2");
  repo_.write("a.txt", "3\n");
  const auto c3 = repo_.commit("c3");
  repo_.push();
  repo_.checkout("other");
  repo_.write("o.txt", "other\n");
  const auto other = repo_.commit("other");
  repo_.push("other");
  repo_.checkout("main");
  repo_.git({"reset", "-q", "--hard", c3});
  GitDaemon daemon(repo_.served_root());
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  ASSERT_EQ(tip_of(mirror.fetch(kTimeout)), c3);
  EXPECT_TRUE(mirror.is_ancestor_or_same(c3, c3));
  EXPECT_TRUE(mirror.is_ancestor_or_same(c2, c3));
  EXPECT_TRUE(mirror.is_ancestor_or_same(c1, c3));
  EXPECT_FALSE(mirror.is_ancestor_or_same(c3, c1));
  EXPECT_FALSE(mirror.is_ancestor_or_same(other, c3));
  EXPECT_FALSE(mirror.is_ancestor_or_same(std::string(40, 'a'), c3));
  EXPECT_FALSE(mirror.is_ancestor_or_same("not-a-sha", c3));
  EXPECT_FALSE(mirror.is_ancestor_or_same(c1, std::string(40, 'b')));
}

TEST_F(MirrorTest, SubtreeIdChangesOnlyWhenThatFolderChanges) {
  repo_.write("envs/web/index.html", "v1\n");
  repo_.write("envs/api/config.yaml", "v1\n");
  const auto c1 = repo_.commit("c1");
  repo_.write("envs/api/config.yaml", "v2\n");
  const auto c2 = repo_.commit("c2");
  repo_.write("envs/web/index.html", "v2\n");
  const auto c3 = repo_.commit("c3");
  repo_.push();
  GitDaemon daemon(repo_.served_root());
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  ASSERT_EQ(tip_of(mirror.fetch(kTimeout)), c3);
  const auto web1 = mirror.subtree_id(c1, "envs/web");
  ASSERT_TRUE(web1);
  EXPECT_EQ(*web1, repo_.rev_parse(c1 + ":envs/web"));
  EXPECT_EQ(mirror.subtree_id(c2, "envs/web"), web1);
  EXPECT_NE(mirror.subtree_id(c3, "envs/web"), web1);
  EXPECT_NE(mirror.subtree_id(c2, "envs/api"), mirror.subtree_id(c1, "envs/api"));
  EXPECT_EQ(mirror.subtree_id(c3, "envs/web/"), mirror.subtree_id(c3, "envs/web"));
  EXPECT_EQ(mirror.subtree_id(c3, ""), repo_.rev_parse(c3 + "^{tree}"));
  EXPECT_EQ(mirror.subtree_id(c3, "."), mirror.subtree_id(c3, ""));
  EXPECT_FALSE(mirror.subtree_id(c3, "envs/missing"));
  EXPECT_FALSE(mirror.subtree_id(c3, "envs/web/index.html"));  // a file, not a tree
}

TEST_F(MirrorTest, ListFilesReportsKindsRelativePathsAndBlobIds) {
  repo_.write("deploy/app/config.yaml", "key: value\n");
  repo_.write("deploy/app/bin/run.sh", "#!/bin/sh\necho hi\n", true);
  repo_.symlink("deploy/app/current", "config.yaml");
  repo_.write("deploy/app/z/nested/deep.txt", "deep\n");
  repo_.write("other/outside.txt", "outside\n");
  const auto sha = repo_.commit("files");
  repo_.push();
  GitDaemon daemon(repo_.served_root());
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  ASSERT_EQ(tip_of(mirror.fetch(kTimeout)), sha);

  auto result = mirror.list_files(sha, "deploy/app");
  ASSERT_TRUE(std::holds_alternative<std::vector<TreeFile>>(result))
      << std::get<GitError>(result).message;
  const auto& files = std::get<std::vector<TreeFile>>(result);
  ASSERT_EQ(files.size(), 4U);
  EXPECT_EQ(files[0].path, "bin/run.sh");
  EXPECT_EQ(files[0].kind, FileKind::executable);
  EXPECT_EQ(files[1].path, "config.yaml");
  EXPECT_EQ(files[1].kind, FileKind::regular);
  EXPECT_EQ(files[2].path, "current");
  EXPECT_EQ(files[2].kind, FileKind::symlink);
  EXPECT_EQ(files[3].path, "z/nested/deep.txt");
  EXPECT_EQ(files[3].kind, FileKind::regular);
  for (const auto& f : files) {
    EXPECT_EQ(f.blob_id, repo_.rev_parse(sha + ":deploy/app/" + f.path)) << f.path;
  }

  auto root = mirror.list_files(sha, "");
  ASSERT_TRUE(std::holds_alternative<std::vector<TreeFile>>(root));
  EXPECT_EQ(std::get<std::vector<TreeFile>>(root).size(), 5U);
  EXPECT_EQ(std::get<std::vector<TreeFile>>(root).back().path, "other/outside.txt");

  EXPECT_TRUE(std::holds_alternative<GitError>(mirror.list_files(sha, "nope")));
}

TEST_F(MirrorTest, ChangedPathsListsOnlyWhatDiffersBetweenTwoTrees) {
  repo_.write("app/same/a.txt", "same\n");
  repo_.write("app/edit.txt", "v1\n");
  repo_.write("app/mode.sh", "#!/bin/sh\n");
  repo_.write("app/gone/x.txt", "x\n");
  repo_.write("app/gone/deeper/y.txt", "y\n");
  repo_.write("app/becomes_dir", "file\n");
  repo_.write("elsewhere.txt", "outside the subtree\n");
  const auto c1 = repo_.commit("c1");
  repo_.write("app/edit.txt", "v2\n");
  repo_.write("app/mode.sh", "#!/bin/sh\n", /*executable=*/true);
  repo_.remove("app/gone");
  repo_.remove("app/becomes_dir");
  repo_.write("app/becomes_dir/inside.txt", "now a dir\n");
  repo_.write("app/new/added.txt", "added\n");
  repo_.write("elsewhere.txt", "changed outside\n");
  const auto c2 = repo_.commit("c2");
  repo_.push();
  GitDaemon daemon(repo_.served_root());
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  ASSERT_EQ(tip_of(mirror.fetch(kTimeout)), c2);
  const auto t1 = mirror.subtree_id(c1, "app");
  const auto t2 = mirror.subtree_id(c2, "app");
  ASSERT_TRUE(t1 && t2);

  auto changed = mirror.changed_paths(*t1, *t2);
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(changed))
      << std::get<GitError>(changed).message;
  EXPECT_EQ(std::get<std::vector<std::string>>(changed),
            (std::vector<std::string>{"becomes_dir", "becomes_dir/inside.txt", "edit.txt",
                                      "gone/deeper/y.txt", "gone/x.txt", "mode.sh",
                                      "new/added.txt"}));
  // Symmetric: the way back (a rollback) touches the same paths.
  EXPECT_EQ(std::get<std::vector<std::string>>(mirror.changed_paths(*t2, *t1)),
            std::get<std::vector<std::string>>(changed));
  EXPECT_TRUE(std::get<std::vector<std::string>>(mirror.changed_paths(*t2, *t2)).empty());
  EXPECT_TRUE(std::holds_alternative<GitError>(mirror.changed_paths(std::string(40, 'a'), *t2)));
}

TEST_F(MirrorTest, ReadBlobReturnsContentAndSize) {
  repo_.write("a/config.yaml", "key: value\n");
  repo_.symlink("a/link", "config.yaml");
  const auto sha = repo_.commit("blob");
  repo_.push();
  GitDaemon daemon(repo_.served_root());
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  ASSERT_EQ(tip_of(mirror.fetch(kTimeout)), sha);
  const auto config_id = repo_.rev_parse(sha + ":a/config.yaml");
  auto content = mirror.read_blob(config_id);
  ASSERT_TRUE(std::holds_alternative<BlobData>(content));
  EXPECT_EQ(std::get<BlobData>(content).bytes, "key: value\n");
  auto size = mirror.blob_size(config_id);
  ASSERT_TRUE(std::holds_alternative<std::uint64_t>(size));
  EXPECT_EQ(std::get<std::uint64_t>(size), 11u);
  auto link = mirror.read_blob(repo_.rev_parse(sha + ":a/link"));
  ASSERT_TRUE(std::holds_alternative<BlobData>(link));
  EXPECT_EQ(std::get<BlobData>(link).bytes, "config.yaml");
  EXPECT_TRUE(std::holds_alternative<GitError>(mirror.read_blob(std::string(40, 'c'))));
  EXPECT_TRUE(std::holds_alternative<GitError>(mirror.blob_size(std::string(40, 'c'))));
  EXPECT_TRUE(std::holds_alternative<GitError>(mirror.blob_size(sha)));  // a commit
}

TEST_F(MirrorTest, ForceResetBranchFetchReturnsOlderTip) {
  repo_.write("a.txt", "1\n");
  const auto old_tip = repo_.commit("old");
  repo_.write("a.txt", "2\n");
  const auto new_tip = repo_.commit("new");
  repo_.push();
  GitDaemon daemon(repo_.served_root());
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  ASSERT_EQ(tip_of(mirror.fetch(kTimeout)), new_tip);
  repo_.force_reset(old_tip);
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), old_tip);
  EXPECT_EQ(mirror.tip(), old_tip);
  EXPECT_TRUE(mirror.is_ancestor_or_same(old_tip, new_tip));
  EXPECT_FALSE(mirror.is_ancestor_or_same(new_tip, old_tip));
}

TEST_F(MirrorTest, RemoteUrlFollowsConfigChange) {
  repo_.write("a.txt", "1\n");
  const auto sha = repo_.commit("c");
  repo_.push();
  GitDaemon daemon(repo_.served_root());
  { Mirror mirror(repository("git://127.0.0.1:1/infra.git"), state_dir_.path()); }
  Mirror mirror(repository(daemon.url("infra")), state_dir_.path());
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), sha);
}

TEST_F(MirrorTest, MissingBranchIsNotRetryable) {
  repo_.write("a.txt", "1\n");
  repo_.commit("c");
  repo_.push();
  GitDaemon daemon(repo_.served_root());
  auto r = repository(daemon.url("infra"));
  r.branch = "does-not-exist";
  Mirror mirror(r, state_dir_.path());
  auto result = mirror.fetch(kTimeout);
  ASSERT_TRUE(std::holds_alternative<GitError>(result));
  EXPECT_FALSE(std::get<GitError>(result).retryable);
}

TEST_F(MirrorTest, SilentHostTimesOutRetryably) {
  test::SilentListener silent;
  expect_fetches_time_out(silent.port(), 0ms);
}

TEST_F(MirrorTest, HostNotAnsweringTheConnectTimesOutRetryably) {
  test::ListenerNotAcceptingConnects full;
  expect_fetches_time_out(full.port(), 900ms);
}

TEST_F(MirrorTest, HostRefusingConnectionsIsRetryableAtOnce) {
  const int port = test::free_port();  // nothing listens there
  Mirror mirror(repository("git://127.0.0.1:" + std::to_string(port) + "/infra.git"),
                state_dir_.path());
  const auto start = std::chrono::steady_clock::now();
  auto result = mirror.fetch(kTimeout);
  ASSERT_TRUE(std::holds_alternative<GitError>(result));
  EXPECT_TRUE(std::get<GitError>(result).retryable) << std::get<GitError>(result).message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

class MirrorHttpTest : public MirrorTest {
 protected:
  Repository http_repository(const std::string& url, const std::string& token) const {
    auto r = repository(url);
    r.credentials.token_file = token_dir_.write("token", token + "\n");
    return r;
  }
  TempDir token_dir_;
};

TEST_F(MirrorHttpTest, FetchWithRightTokenReturnsTip) {
  repo_.write("a.txt", "1\n");
  const auto sha = repo_.commit("c");
  repo_.push();
  GitHttpServer server(repo_.served_root(), "s3cret-token");
  Mirror mirror(http_repository(server.url("infra"), "s3cret-token"), state_dir_.path());
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), sha);
  repo_.write("a.txt", "2\n");
  const auto next = repo_.commit("c2");
  repo_.push();
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), next);
}

// A resync of a repository that did not change costs the host one ref listing: no pack is
// negotiated, since the mirror has the advertised tip already.
TEST_F(MirrorHttpTest, FetchOfAnUnchangedBranchOnlyListsRefs) {
  repo_.write("a.txt", "1\n");
  const auto sha = repo_.commit("c");
  repo_.push();
  GitHttpServer server(repo_.served_root(), "s3cret-token");
  Mirror mirror(http_repository(server.url("infra"), "s3cret-token"), state_dir_.path());
  auto count = [&](const std::string& what) {
    const std::string log = server.log();
    std::size_t n = 0;
    for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  };
  ASSERT_EQ(tip_of(mirror.fetch(kTimeout)), sha);
  ASSERT_EQ(count("POST /infra.git/git-upload-pack"), 1u) << server.log();
  const auto listings = count("GET /infra.git/info/refs");
  mirror.release();  // as after every batch: the next fetch opens it again
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), sha);
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), sha);
  EXPECT_EQ(count("POST /infra.git/git-upload-pack"), 1u) << server.log();
  EXPECT_GT(count("GET /infra.git/info/refs"), listings) << server.log();
  // A new commit is downloaded as before.
  repo_.write("a.txt", "2\n");
  const auto next = repo_.commit("c2");
  repo_.push();
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), next);
  EXPECT_EQ(count("POST /infra.git/git-upload-pack"), 2u) << server.log();
  EXPECT_TRUE(mirror.is_ancestor_or_same(sha, next));
}

TEST_F(MirrorHttpTest, WrongTokenIsNotRetryableAndNotInMessage) {
  repo_.write("a.txt", "1\n");
  repo_.commit("c");
  repo_.push();
  GitHttpServer server(repo_.served_root(), "s3cret-token");
  Mirror mirror(http_repository(server.url("infra"), "wrong-token-value"), state_dir_.path());
  const auto start = std::chrono::steady_clock::now();
  auto result = mirror.fetch(kTimeout);
  ASSERT_TRUE(std::holds_alternative<GitError>(result));
  const auto& error = std::get<GitError>(result);
  RecordProperty("message", error.message);
  EXPECT_FALSE(error.retryable) << error.message;
  EXPECT_EQ(error.message.find("wrong-token-value"), std::string::npos) << error.message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST_F(MirrorHttpTest, MissingTokenIsNotRetryable) {
  repo_.write("a.txt", "1\n");
  repo_.commit("c");
  repo_.push();
  GitHttpServer server(repo_.served_root(), "s3cret-token");
  Mirror mirror(repository(server.url("infra")), state_dir_.path());
  auto result = mirror.fetch(kTimeout);
  ASSERT_TRUE(std::holds_alternative<GitError>(result));
  EXPECT_FALSE(std::get<GitError>(result).retryable) << std::get<GitError>(result).message;
}

TEST_F(MirrorHttpTest, HostDownIsRetryableAndRecoversAfterRestart) {
  repo_.write("a.txt", "1\n");
  const auto sha = repo_.commit("c");
  repo_.push();
  GitHttpServer server(repo_.served_root(), "s3cret-token");
  Mirror mirror(http_repository(server.url("infra"), "s3cret-token"), state_dir_.path());
  ASSERT_EQ(tip_of(mirror.fetch(kTimeout)), sha);

  server.stop();
  const auto start = std::chrono::steady_clock::now();
  auto down = mirror.fetch(kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  ASSERT_TRUE(std::holds_alternative<GitError>(down));
  EXPECT_TRUE(std::get<GitError>(down).retryable) << std::get<GitError>(down).message;
  EXPECT_EQ(mirror.tip(), sha);

  repo_.write("a.txt", "2\n");
  const auto next = repo_.commit("c2");
  repo_.push();
  server.start();
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), next);
}

TEST_F(MirrorHttpTest, UntrustedTlsCertificateIsRefusedAndNotRetryable) {
  repo_.write("a.txt", "1\n");
  repo_.commit("c");
  repo_.push();
  GitHttpServer server(repo_.served_root(), "s3cret-token", /*tls=*/true);
  Mirror mirror(http_repository(server.url("infra"), "s3cret-token"), state_dir_.path());
  auto result = mirror.fetch(kTimeout);
  ASSERT_TRUE(std::holds_alternative<GitError>(result));
  const auto& error = std::get<GitError>(result);
  EXPECT_FALSE(error.retryable) << error.message;
  EXPECT_NE(error.message.find("certificate"), std::string::npos) << error.message;
  EXPECT_EQ(error.message.find("s3cret-token"), std::string::npos) << error.message;
  EXPECT_FALSE(mirror.tip());
}

TEST_F(MirrorHttpTest, UnknownRepositoryIsNotRetryable) {
  repo_.write("a.txt", "1\n");
  repo_.commit("c");
  repo_.push();
  GitHttpServer server(repo_.served_root(), "s3cret-token");
  auto r = http_repository(server.url("nope"), "s3cret-token");
  Mirror mirror(r, state_dir_.path());
  auto result = mirror.fetch(kTimeout);
  ASSERT_TRUE(std::holds_alternative<GitError>(result));
  EXPECT_FALSE(std::get<GitError>(result).retryable) << std::get<GitError>(result).message;
}

class MirrorSshTest : public MirrorTest {
 protected:
  void SetUp() override {
    if (server_.skip_reason()) GTEST_SKIP() << *server_.skip_reason();
  }
  Repository ssh_repository(const std::string& known_hosts) const {
    auto r = repository(server_.url(repo_.served_path()));
    r.credentials.ssh_key_file = server_.client_key();
    r.credentials.known_hosts = known_hosts;
    return r;
  }
  SshGitServer server_;
};

TEST_F(MirrorSshTest, FetchWithKeyAndKnownHostsReturnsTip) {
  repo_.write("a.txt", "1\n");
  const auto sha = repo_.commit("c");
  repo_.push();
  Mirror mirror(ssh_repository(server_.known_hosts()), state_dir_.path());
  EXPECT_EQ(tip_of(mirror.fetch(kTimeout)), sha);
}

TEST_F(MirrorSshTest, RefusesHostKeyNotInKnownHosts) {
  repo_.write("a.txt", "1\n");
  repo_.commit("c");
  repo_.push();
  Mirror mirror(ssh_repository(server_.wrong_known_hosts()), state_dir_.path());
  auto result = mirror.fetch(kTimeout);
  ASSERT_TRUE(std::holds_alternative<GitError>(result));
  const auto& error = std::get<GitError>(result);
  EXPECT_FALSE(error.retryable) << error.message;
  EXPECT_NE(error.message.find("not in known_hosts"), std::string::npos) << error.message;
  EXPECT_FALSE(mirror.tip());
}

TEST_F(MirrorSshTest, RefusesSshWithoutKnownHosts) {
  repo_.write("a.txt", "1\n");
  repo_.commit("c");
  repo_.push();
  auto r = ssh_repository("");
  r.credentials.known_hosts.reset();
  Mirror mirror(r, state_dir_.path());
  auto result = mirror.fetch(kTimeout);
  ASSERT_TRUE(std::holds_alternative<GitError>(result));
  EXPECT_FALSE(std::get<GitError>(result).retryable);
}

}  // namespace
}  // namespace gitopsd::worker
