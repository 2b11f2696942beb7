// The appliers of DESIGN.md behind one interface: `files` makes a directory hold exactly a
// subtree; `exec` runs an operator-configured argv in a checkout. Neither involves a shell;
// nothing from a webhook payload becomes a path, argument or environment value except the
// commit id. Retries are the reconciler's: an applier makes one attempt and says whether
// another could succeed.
#pragma once

#include <memory>
#include <stop_token>
#include <string>
#include <variant>

#include "gitopsd/config.hpp"

namespace gitopsd::worker {

class Mirror;
struct GitError;

// The worker's one failure type: what failed, in a sentence, and whether another attempt at
// the same commit may succeed (rule 5: retry with backoff, else fail and dead-letter). Set
// where the failure is known: a tree refused by its own content or a command killed by
// apply_timeout is not retryable; a network error, a full disk or a non-zero exit is.
struct ApplyFailure {
  std::string message;
  bool retryable = false;
  std::string output_tail;  // of the command that failed, if one did
};

// A GitError as the worker's failure, its message after `context` (e.g. "fetch failed: ").
ApplyFailure git_failure(const GitError& error, const std::string& context = "");

struct Applied {
  std::string message;      // what was done, e.g. "2 written, 0 removed, 5 unchanged"
  std::string output_tail;  // of the commands run
};

struct InSync {};
struct DriftFound {
  std::string description;  // what differs, as a short sentence
};

struct ApplyRequest {
  std::string commit;  // 40 hex: what to bring the target to
  std::string tree;    // the target subtree's object id at `commit` ("" when unknown)
  std::string before;  // what the event says ran before (GITOPSD_BEFORE)
  // Compare everything at the destination with the tree (a drift correction), not only what
  // changed since the last apply.
  bool full = false;
};

class Applier {
 public:
  virtual ~Applier() = default;
  // One attempt to bring the target to `request.commit`. `stop` kills a running command.
  virtual std::variant<Applied, ApplyFailure> apply(const ApplyRequest& request,
                                                    std::stop_token stop) = 0;
  // Rule 6: whether the target still matches `commit`, changing nothing. `tree` is the
  // target's subtree id at `commit` when the caller knows it ("": looked up in the mirror).
  virtual std::variant<InSync, DriftFound, ApplyFailure> check_drift(const std::string& commit,
                                                                     const std::string& tree,
                                                                     std::stop_token stop) = 0;
};

// The applier `target.apply` configures. `repository`, `worker` and `mirror` must outlive it;
// it reads blobs from `mirror` (used by one thread at a time: the reconciler's).
std::unique_ptr<Applier> make_applier(const Repository& repository, const Target& target,
                                      const WorkerConfig& worker, Mirror& mirror);

}  // namespace gitopsd::worker
