#include "tls_test_support.h"

#include <algorithm>

namespace l7tap::protocols::testing {

TlsWireOptions OptionsOf(const SuiteCase& c) {
  TlsWireOptions o;
  o.version = c.version;
  o.ciphersuites = c.ciphersuites;
  o.cipher_list = c.cipher_list;
  return o;
}

std::string Pattern(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  uint32_t x = 0x9E3779B9u * (seed + 1);
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = char(x >> 24);
  }
  return s;
}

uint64_t ProtectedRecords(const TlsWireRun& run, int version) {
  uint64_t n = 0;
  bool after_ccs[2] = {false, false};
  for (const TlsChunk& c : run.chunks) {
    for (const std::string& r : SplitRecords(c.bytes)) {
      const uint8_t type = uint8_t(r[0]);
      bool& ccs = after_ccs[c.from_client ? 1 : 0];
      if (version == 0x0304 ? type == 23 : ccs) ++n;
      if (type == 20) ccs = true;
    }
  }
  return n;
}

size_t BytesThroughFirstProtected(const TlsWireRun& run, int version, bool from_client) {
  size_t n = 0;
  bool ccs = false;
  for (const TlsChunk& c : run.chunks) {
    if (c.from_client != from_client) continue;
    for (const std::string& r : SplitRecords(c.bytes)) {
      n += r.size();
      const uint8_t type = uint8_t(r[0]);
      if (version == 0x0304 ? type == 23 : ccs) return n;
      if (type == 20) ccs = true;
    }
  }
  return n;
}

void ExpectPlaintext(const Received& got, const std::string& sent) {
  ASSERT_EQ(got.bytes.size(), sent.size());
  EXPECT_EQ(got.tail_bytes, 0u);
  EXPECT_EQ(got.gap_bytes, 0u);
  EXPECT_EQ(got.gaps, 0u);
  size_t i = 0;
  while (i < sent.size() && got.bytes[i] == sent[i]) ++i;
  EXPECT_EQ(i, sent.size()) << "first wrong byte";
}

uint64_t ExpectKnownBytesMatch(const Received& got, const std::string& sent) {
  EXPECT_EQ(got.bytes.size(), sent.size());
  uint64_t known = 0;
  size_t wrong = 0;
  for (size_t i = 0; i < std::min(sent.size(), got.bytes.size()); ++i) {
    if (got.known[i] != '1') continue;
    ++known;
    if (got.bytes[i] != sent[i]) ++wrong;
  }
  EXPECT_EQ(wrong, 0u);
  return known;
}

}  // namespace l7tap::protocols::testing
