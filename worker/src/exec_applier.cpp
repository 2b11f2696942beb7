// `exec`: the subtree checked out under `<state_dir>/checkouts/<repository>/<target>`, then
// the operator's command run in it; `diff`, when configured, is its drift check.
#include <algorithm>
#include <filesystem>

#include "applier_base.hpp"
#include "gitopsd/worker/process_group_record.hpp"

namespace gitopsd::worker {
namespace {

namespace fs = std::filesystem;

class ExecApplier final : public ApplierBase {
 public:
  ExecApplier(const Repository& repository, const Target& target, const ExecApply& apply,
              const WorkerConfig& worker, Mirror& mirror)
      : ApplierBase(repository, target, worker, mirror), apply_(apply) {}

  std::variant<Applied, ApplyFailure> apply(const ApplyRequest& request,
                                            std::stop_token stop) override {
    auto dir = checkout(request.commit, stop);
    if (auto* failed = std::get_if<ApplyFailure>(&dir)) return *failed;
    return run(apply_.command, std::get<std::string>(dir),
               environment(request.commit, request.before), stop);
  }

  std::variant<InSync, DriftFound, ApplyFailure> check_drift(const std::string& commit,
                                                             const std::string&,
                                                             std::stop_token stop) override {
    if (apply_.diff.empty()) return InSync{};
    auto dir = checkout(commit, stop);
    if (auto* failed = std::get_if<ApplyFailure>(&dir)) return *failed;
    auto r = run_command_in(apply_.diff, std::get<std::string>(dir), environment(commit, commit),
                            stop);
    if (r.started && !r.timed_out && r.exit_code == 0) return InSync{};
    const auto& codes = apply_.drift_exit_codes;
    if (r.started && !r.timed_out && r.signal == 0 &&
        std::find(codes.begin(), codes.end(), r.exit_code) != codes.end())
      return DriftFound{apply_.diff[0] + " reported drift (exit " + std::to_string(r.exit_code) + ")"};
    return ApplyFailure{
        .message = "drift check failed: " +
                   (r.started ? apply_.diff[0] + " exited with " + std::to_string(r.exit_code)
                              : r.error),
        .output_tail = r.output_tail};
  }

 private:
  // A fresh checkout of the subtree at `commit`; its directory.
  std::variant<std::string, ApplyFailure> checkout(const std::string& commit,
                                                   std::stop_token stop) {
    auto listed = files_at(commit);
    if (auto* failed = std::get_if<ApplyFailure>(&listed)) return *failed;
    // A command a dead worker left running in this checkout ends before it is replaced.
    wait_for_leftover_command(group_record(), worker_.apply_timeout, stop);
    auto dir = fs::path(worker_.state_dir) / "checkouts" / repository_.name / target_.name;
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir.parent_path(), ec);
    auto outcome = checkout_files(dir.string(), std::get<std::vector<TreeFile>>(listed),
                                  blob_source(), files_options());
    if (!outcome.ok) {
      return ApplyFailure{.message = "checkout of " + commit.substr(0, 12) + ": " + outcome.error,
                          .retryable = !outcome.refused};
    }
    return dir.string();
  }

  const ExecApply& apply_;
};

}  // namespace

std::unique_ptr<Applier> make_exec_applier(const Repository& repository, const Target& target,
                                           const ExecApply& apply, const WorkerConfig& worker,
                                           Mirror& mirror) {
  return std::make_unique<ExecApplier>(repository, target, apply, worker, mirror);
}

}  // namespace gitopsd::worker
