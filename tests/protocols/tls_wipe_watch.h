#pragma once
// Watches, through SecretBytes' test hook, whether the bytes of planted secrets are zero once wiped.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocols/tls_secret.h"

namespace l7tap::protocols::testing {

class WipeWatch {
 public:
  explicit WipeWatch(std::vector<std::vector<uint8_t>> planted)
      : planted_(std::move(planted)), wiped_(planted_.size(), 0) {
    SetSecretWipeHookForTest(Hook, this);
  }
  ~WipeWatch() { SetSecretWipeHookForTest(nullptr, nullptr); }
  WipeWatch(const WipeWatch&) = delete;
  WipeWatch& operator=(const WipeWatch&) = delete;

  // Times planted secret `i` was wiped to all zeros.
  int wiped(size_t i) const { return wiped_[i]; }
  // Wipes of a planted secret that left a byte nonzero (never expected).
  int left_nonzero() const { return left_nonzero_; }
  void Reset() { std::fill(wiped_.begin(), wiped_.end(), 0); }

 private:
  static void Hook(const uint8_t* data, size_t size, bool wiped, void* context) {
    auto* w = static_cast<WipeWatch*>(context);
    if (!wiped) {
      for (size_t i = 0; i < w->planted_.size(); ++i) {
        const auto& p = w->planted_[i];
        if (size == p.size() && std::equal(data, data + size, p.begin())) w->pending_.push_back({data, i});
      }
      return;
    }
    for (auto it = w->pending_.begin(); it != w->pending_.end(); ++it) {
      if (it->data != data) continue;
      if (std::all_of(data, data + size, [](uint8_t b) { return b == 0; })) {
        ++w->wiped_[it->index];
      } else {
        ++w->left_nonzero_;
      }
      w->pending_.erase(it);
      return;
    }
  }
  struct Pending {
    const uint8_t* data;
    size_t index;
  };
  std::vector<std::vector<uint8_t>> planted_;
  std::vector<int> wiped_;
  std::vector<Pending> pending_;
  int left_nonzero_ = 0;
};

}  // namespace l7tap::protocols::testing
