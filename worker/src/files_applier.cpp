// `files`: the destination made to hold the subtree (files_sync), then `after` when something
// changed. Only what changed since the tree the destination last held completely is compared.
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "applier_base.hpp"
#include "files_snapshot.hpp"

namespace gitopsd::worker {
namespace {

namespace fs = std::filesystem;

class FilesApplier final : public ApplierBase {
 public:
  FilesApplier(const Repository& repository, const Target& target, const FilesApply& apply,
               const WorkerConfig& worker, Mirror& mirror)
      : ApplierBase(repository, target, worker, mirror), apply_(apply) {}

  std::variant<Applied, ApplyFailure> apply(const ApplyRequest& request,
                                            std::stop_token stop) override {
    auto listed = files_at(request.commit);
    if (auto* failed = std::get_if<ApplyFailure>(&listed)) return *failed;
    const auto& files = std::get<std::vector<TreeFile>>(listed);
    auto changed = request.full || request.tree.empty() ? std::nullopt
                                                        : changes_since_applied(request.tree);
    forget_applied();
    const auto options = files_options(apply_.switch_mode);
    auto outcome = changed ? apply_file_changes(apply_.dest, files, *changed, blob_source(), options)
                           : apply_files(apply_.dest, files, blob_source(), options);
    // A refused tree is in the commit itself: no retry changes it.
    if (!outcome.ok) return ApplyFailure{.message = outcome.error, .retryable = !outcome.refused};
    if (!request.tree.empty()) remember_applied(request.tree);
    Applied done{.message = std::to_string(outcome.written) + " written, " +
                            std::to_string(outcome.removed) + " removed, " +
                            std::to_string(outcome.unchanged) + " unchanged"};
    if (apply_.after.empty() || outcome.written + outcome.removed == 0) return done;
    auto after = run(apply_.after, apply_.dest, environment(request.commit, request.before), stop);
    if (auto* failed = std::get_if<ApplyFailure>(&after)) {
      failed->message = "files written; after: " + failed->message;
      return after;
    }
    done.output_tail = std::get<Applied>(after).output_tail;
    return done;
  }

  std::variant<InSync, DriftFound, ApplyFailure> check_drift(const std::string& commit,
                                                             const std::string& tree,
                                                             std::stop_token) override {
    // A dest unchanged since a full check found it holding this subtree is in sync: its stat
    // snapshot says so without listing the tree or reading a file (nor, given the tree id,
    // opening the mirror's object database).
    const std::string subtree =
        tree.empty() ? mirror_.subtree_id(commit, target_.path).value_or("") : tree;
    const SnapshotKey key{apply_.dest, subtree};
    const auto snapshot = snapshot_file().string();
    if (check_snapshot(snapshot, key) == SnapshotCheck::matches) return InSync{};
    auto listed = files_at(commit);
    if (auto* failed = std::get_if<ApplyFailure>(&listed)) return *failed;
    const auto check = verify_and_snapshot(snapshot, key, std::get<std::vector<TreeFile>>(listed),
                                           blob_source(), files_options(apply_.switch_mode))
                           .outcome;
    if (!check.ok) return ApplyFailure{.message = check.error, .retryable = !check.refused};
    if (check.written + check.removed == 0) return InSync{};
    return DriftFound{std::to_string(check.written) + " files differ, " +
                      std::to_string(check.removed) + " unexpected"};
  }

 private:
  // ---- what this host's destination holds ------------------------------------------------
  // `<state_dir>/applied/<repository>/<target>.json`: {dest, tree} written after an apply
  // succeeded and removed before one starts, so it only ever names a tree `dest` was made to
  // hold completely. It lets the next apply touch only what changed since that tree.
  // Anything else changed in `dest` meanwhile is drift, which the resync check finds.

  fs::path applied_record() const {
    return fs::path(worker_.state_dir) / "applied" / repository_.name / (target_.name + ".json");
  }

  std::optional<std::string> applied_tree() const {
    std::ifstream in(applied_record());
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto value = boost::json::parse(text.str(), ec);
    const auto* record = value.if_object();
    if (ec || record == nullptr) return std::nullopt;
    const auto* recorded_dest = record->if_contains("dest");
    const auto* tree = record->if_contains("tree");
    if (!recorded_dest || !tree || !recorded_dest->is_string() || !tree->is_string() ||
        recorded_dest->get_string() != apply_.dest)
      return std::nullopt;
    return std::string(tree->get_string());
  }

  // `<target>.snapshot` beside it (files_snapshot): the stat of every entry of `dest` when a
  // full drift check last found it in sync. Removed with the record, so an apply always
  // invalidates it.
  fs::path snapshot_file() const {
    return fs::path(worker_.state_dir) / "applied" / repository_.name /
           (target_.name + ".snapshot");
  }

  void forget_applied() {
    std::error_code ec;
    fs::remove(applied_record(), ec);
    fs::remove(snapshot_file(), ec);
  }

  void remember_applied(const std::string& tree) {
    const auto path = applied_record();
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    const auto temp = path.string() + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << boost::json::serialize(boost::json::object{{"dest", apply_.dest}, {"tree", tree}});
      if (!out) return;  // no record: the next apply is a full one
    }
    fs::rename(temp, path, ec);
  }

  // Paths changed since what `dest` last held completely, or nullopt for a full apply.
  std::optional<std::vector<std::string>> changes_since_applied(const std::string& tree) {
    auto old_tree = applied_tree();
    if (!old_tree) return std::nullopt;
    auto changed = mirror_.changed_paths(*old_tree, tree);
    if (auto* paths = std::get_if<std::vector<std::string>>(&changed)) return std::move(*paths);
    return std::nullopt;
  }

  const FilesApply& apply_;
};

}  // namespace

std::unique_ptr<Applier> make_files_applier(const Repository& repository, const Target& target,
                                            const FilesApply& apply, const WorkerConfig& worker,
                                            Mirror& mirror) {
  return std::make_unique<FilesApplier>(repository, target, apply, worker, mirror);
}

}  // namespace gitopsd::worker
