// One ownership idiom for every C library handle (librdkafka, libgit2, OpenSSL):
//   using RepoPtr = gitopsd::CHandle<git_repository, git_repository_free>;
//   RepoPtr repo(raw);            // freed by git_repository_free when it goes out of scope
// The free function is part of the type, so a holder is one pointer wide and cannot be built
// with the wrong deleter, and `CHandle<T, Free>{}` is a valid empty holder.
#pragma once

#include <memory>

namespace gitopsd {

template <auto Free>
struct CFree {
  template <typename T>
  void operator()(T* handle) const noexcept {
    if (handle != nullptr) {
      Free(handle);
    }
  }
};

template <typename T, auto Free>
using CHandle = std::unique_ptr<T, CFree<Free>>;

}  // namespace gitopsd
