// What the receiver's server hands decide() for a test delivery (tests and bench/).
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string_view>

#include "gitopsd/receiver/webhook.hpp"
#include "payloads.hpp"

namespace gitopsd::test {

// `d` must outlive the request. Header names match case-insensitively, as in HTTP.
inline receiver::WebhookRequest request_of(
    const Delivery& d, std::string_view method = "POST",
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
  return receiver::WebhookRequest{
      .method = method,
      .target = d.path,
      .header = [&d](std::string_view name) -> std::string_view {
        for (const auto& [k, v] : d.headers) {
          if (k.size() == name.size() &&
              std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
              })) {
            return v;
          }
        }
        return {};
      },
      .body = d.body,
      .now = now,
  };
}

}  // namespace gitopsd::test
