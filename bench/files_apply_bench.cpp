// The `files` applier's cost (issue 10 item 13) and memory (item 15). See bench/README.md.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "files_snapshot.hpp"
#include "gitopsd/worker/files_sync.hpp"
#include "gitopsd/worker/mirror.hpp"

namespace gitopsd::worker {
namespace {

namespace fs = std::filesystem;

fs::path make_temp_dir(const char* name) {
  std::string pattern = (fs::temp_directory_path() / name).string() + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// A tree of `count` small files, 100 per directory, with its blobs in memory, applied once to
// a dest on disk. Each iteration changes one file (back and forth) with apply_file_changes.
class Site {
 public:
  explicit Site(std::size_t count) : root_(make_temp_dir("gitopsd-bench")), dest_(root_ / "dest") {
    for (std::size_t i = 0; i < count; ++i) {
      files_.push_back(file("dir" + std::to_string(i / 100) + "/page" + std::to_string(i) +
                                ".html",
                            "<p>page " + std::to_string(i) + "</p>\n"));
    }
    if (!apply_files(dest_.string(), files_, source()).ok) throw std::runtime_error("setup failed");
  }
  ~Site() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  Site(const Site&) = delete;
  Site& operator=(const Site&) = delete;

  // Changes one file; true when the apply succeeded.
  bool change_one(FilesSwitch mode) {
    TreeFile& changed = files_[files_.size() / 2];
    changed = file(changed.path, "<p>version " + std::to_string(++version_) + "</p>\n");
    return apply_file_changes(dest_.string(), files_, {changed.path}, source(),
                              FilesOptions{.switch_mode = mode})
        .ok;
  }

  // The resync drift check as it was: every file in dest hashed.
  bool hash_check() const {
    const auto outcome = apply_files(dest_.string(), files_, source(), {}, /*verify_only=*/true);
    return outcome.ok && outcome.written + outcome.removed == 0;
  }
  // The full check as check_drift runs it without a usable snapshot: hashed between two stat
  // walks, and the snapshot written. False when dest was not found in sync or not stored.
  bool hash_check_and_snapshot() const {
    return verify_and_snapshot(snapshot_file(), key(), files_, source(), {}).snapshot_stored;
  }
  bool snapshot_check() const {
    return check_snapshot(snapshot_file(), key()) == SnapshotCheck::matches;
  }

 private:
  SnapshotKey key() const { return {dest_.string(), std::string(40, '0')}; }
  std::string snapshot_file() const { return (root_ / "dest.snapshot").string(); }

  TreeFile file(const std::string& path, const std::string& content) {
    const auto id = git_blob_id(content);
    blobs_[id] = content;
    return TreeFile{path, FileKind::regular, id};
  }

  BlobSource source() const {
    return {[this](const std::string& id) -> std::variant<std::uint64_t, GitError> {
              return blobs_.at(id).size();
            },
            [this](const std::string& id) -> std::variant<BlobData, GitError> {
              return BlobData{blobs_.at(id), nullptr};
            }};
  }

  fs::path root_;
  fs::path dest_;
  std::vector<TreeFile> files_;
  std::map<std::string, std::string> blobs_;
  unsigned version_ = 0;
};

// One site per size for the whole run: Google Benchmark calls a benchmark several times, and
// writing 50,000 files each time would take longer than measuring.
Site& site_of(std::size_t count) {
  static std::map<std::size_t, std::unique_ptr<Site>> sites;
  auto& site = sites[count];
  if (!site) site = std::make_unique<Site>(count);
  return *site;
}

void BM_ChangeOneFile(benchmark::State& state, FilesSwitch mode) {
  Site& site = site_of(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    if (!site.change_one(mode)) state.SkipWithError("apply failed");
  }
}
BENCHMARK_CAPTURE(BM_ChangeOneFile, per_file, FilesSwitch::per_file)
    ->Arg(1000)->Arg(50000)->Unit(benchmark::kMillisecond)->MinTime(2);
BENCHMARK_CAPTURE(BM_ChangeOneFile, exchange, FilesSwitch::exchange)
    ->Arg(1000)->Arg(50000)->Unit(benchmark::kMillisecond)->MinTime(2);

// Sites for the drift checks, which no other benchmark changes, once their entries are older
// than kRacyWindow: a snapshot of them can be stored.
Site& drift_site_of(std::size_t count) {
  static std::map<std::size_t, std::unique_ptr<Site>> sites;
  auto& site = sites[count];
  if (site) return *site;
  site = std::make_unique<Site>(count);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!site->hash_check_and_snapshot()) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("no snapshot");
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return *site;
}

enum class DriftCheck { hash, hash_and_snapshot, snapshot };

void BM_DriftCheck(benchmark::State& state, DriftCheck how) {
  Site& site = drift_site_of(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    const bool in_sync = how == DriftCheck::hash                ? site.hash_check()
                         : how == DriftCheck::hash_and_snapshot ? site.hash_check_and_snapshot()
                                                                : site.snapshot_check();
    if (!in_sync) state.SkipWithError("not found in sync");
  }
}
BENCHMARK_CAPTURE(BM_DriftCheck, hash, DriftCheck::hash)
    ->Arg(1000)->Arg(50000)->Unit(benchmark::kMillisecond)->MinTime(2);
BENCHMARK_CAPTURE(BM_DriftCheck, hash_and_snapshot, DriftCheck::hash_and_snapshot)
    ->Arg(1000)->Arg(50000)->Unit(benchmark::kMillisecond)->MinTime(2);
BENCHMARK_CAPTURE(BM_DriftCheck, snapshot, DriftCheck::snapshot)
    ->Arg(1000)->Arg(50000)->Unit(benchmark::kMillisecond)->MinTime(2);

void run(const std::string& command) {
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

// Applies one 100 MB file from a real mirror (packed, as after any fetch) in a child process
// and reports that child's peak RSS: the fetch before it has a peak of its own.
void BM_ApplyLargeFilePeakRss(benchmark::State& state) {
  const auto root = make_temp_dir("gitopsd-bench-large");
  const auto source = root / "source";
  run("git init -q -b main " + source.string() + " && head -c 100000000 /dev/urandom > " +
      (source / "big.bin").string() + " && git -C " + source.string() +
      " add big.bin && git -C " + source.string() +
      " -c user.name=bench -c user.email=bench@example.invalid commit -qm big");
  init_libgit2();
  Repository repository;
  repository.name = "large";
  repository.url = "file://" + source.string();
  std::string tip;
  {
    Mirror mirror(repository, (root / "state").string());
    auto fetched = mirror.fetch(std::chrono::seconds(120));
    if (auto* error = std::get_if<GitError>(&fetched)) throw std::runtime_error(error->message);
    tip = std::get<std::string>(fetched);
  }
  double peak_mib = 0;
  for (auto _ : state) {
    const auto dest = root / "dest";
    fs::remove_all(dest);
    const pid_t child = ::fork();
    if (child == 0) {
      Mirror mirror(repository, (root / "state").string());
      auto files = std::get<std::vector<TreeFile>>(mirror.list_files(tip, ""));
      const auto outcome = apply_files(
          dest.string(), files,
          {[&](const std::string& id) { return mirror.blob_size(id); },
           [&](const std::string& id) { return mirror.read_blob(id); }});
      std::_Exit(outcome.ok ? 0 : 1);
    }
    int status = 0;
    rusage usage{};
    if (child < 0 || ::wait4(child, &status, 0, &usage) != child || status != 0) {
      state.SkipWithError("apply failed");
      break;
    }
    peak_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  }
  state.counters["peak_rss_MiB"] = peak_mib;
  fs::remove_all(root);
}
BENCHMARK(BM_ApplyLargeFilePeakRss)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gitopsd::worker

BENCHMARK_MAIN();
