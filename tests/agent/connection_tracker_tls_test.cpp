// The tracker in keys mode: real OpenSSL connections (made in memory by tests/protocols/tls_wire), their
// ciphertext fed as the kernel sends it, secrets in the store before or after; HTTP transactions come out of
// the decrypted bytes, and a connection without secrets is counted, not guessed.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "agent/connection_tracker.h"
#include "protocols/tls_secret.h"
#include "tls_wire.h"

namespace l7tap::agent {
namespace {

using protocols::Direction;
using protocols::Role;
using protocols::testing::TlsWire;
using protocols::testing::TlsWireRun;
using protocols::testing::Write;

// One tracker in keys mode, with what it emitted and muted.
struct TrackerTlsTest {
  TrackerTlsTest() { tracker.SetTls(&store, &untraced); }

  TableRegistry tables;
  ConnectionTracker tracker{tables, [this](TransactionRecord&& r) { seen.push_back(std::move(r)); },
                            [this](const ConnId& id, bool tls) {
                              ignored.push_back({id, tls});
                            }};
  protocols::TlsSecretStore store;
  TlsUntraced untraced;
  std::vector<TransactionRecord> seen;
  std::vector<std::pair<ConnId, bool>> ignored;
  uint64_t ts = 1000;

  void AddSecrets(const std::vector<std::string>& lines) {
    for (const std::string& line : lines) {
      auto s = protocols::ParseKeyLogLine(line);
      ASSERT_TRUE(s) << line;
      s->ts_ns = ts;
      store.Add(std::move(*s));
    }
  }

  // The run's chunks as the traced side (`role`) saw them, one syscall each, numbered like the kernel does.
  void Feed(ConnId id, Role role, const TlsWireRun& run) {
    ConnOpen o{ts, id, false, true, role, 8443, 43210, "127.0.0.1", "127.0.0.9", "svc"};
    if (role == Role::kClient) std::swap(o.local_port, o.remote_port);
    tracker.OnOpen(o);
    uint64_t position[2] = {0, 0};
    for (const auto& c : run.chunks) {
      const bool written = c.from_client == (role == Role::kClient);
      const Direction dir = written ? Direction::kEgress : Direction::kIngress;
      uint64_t& p = position[static_cast<int>(dir)];
      tracker.OnData(Data{ts += 1000, id, p, uint32_t(c.bytes.size()), dir, false, c.bytes});
      p += c.bytes.size();
    }
  }
};

std::vector<protocols::testing::TlsStep> TwoExchanges() {
  return {Write(true, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
          Write(false, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
          Write(true, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"),
          Write(false, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")};
}

TEST(TrackerTls, BothEndsDecryptWithTheSecretsOfOneHandshake) {
  for (bool secrets_first : {true, false}) {
    SCOPED_TRACE(secrets_first ? "secrets first" : "secrets after the records");
    TrackerTlsTest t;
    TlsWire wire;
    const TlsWireRun run = wire.Run(TwoExchanges());
    if (secrets_first) t.AddSecrets(run.client_keylog);
    t.Feed(ConnId{20, 5, 1}, Role::kServer, run);
    t.Feed(ConnId{21, 6, 1}, Role::kClient, run);
    if (!secrets_first) {
      t.AddSecrets(run.client_keylog);
      t.tracker.PollTls(t.ts);
    }
    ASSERT_EQ(t.seen.size(), 4u);
    std::map<std::tuple<Role, std::string, int>, int> by;
    for (const auto& r : t.seen) {
      EXPECT_TRUE(r.tls);
      by[{r.http.role, r.http.method, r.http.status}]++;
    }
    const std::map<std::tuple<Role, std::string, int>, int> want = {{{Role::kServer, "GET", 200}, 1},
                                                                    {{Role::kServer, "POST", 201}, 1},
                                                                    {{Role::kClient, "GET", 200}, 1},
                                                                    {{Role::kClient, "POST", 201}, 1}};
    EXPECT_EQ(by, want);
    EXPECT_EQ(t.tracker.stats().tls_connections_decrypted, 2u);
    EXPECT_EQ(t.tracker.stats().http_unmatched_responses, 0u);
    EXPECT_TRUE(t.untraced.Samples().empty());
  }
}

TEST(TrackerTls, WithoutSecretsNothingIsGuessedAndTheConnectionIsCounted) {
  TrackerTlsTest t;
  TlsWire wire;
  const TlsWireRun run = wire.Run(TwoExchanges());
  const ConnId id{22, 7, 1};
  t.Feed(id, Role::kServer, run);
  t.tracker.PollTls(t.ts + 3'000'000'000ull);  // past the 2 s wait
  EXPECT_TRUE(t.seen.empty());
  const auto samples = t.untraced.Samples();
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].value, 1);
  const std::vector<std::pair<std::string, std::string>> labels = {{"service_name", "svc"},
                                                                   {"reason", "no_secrets"}};
  EXPECT_EQ(samples[0].labels, labels);
  // Its ciphertext is muted in the kernel (the syscall source, not the TLS plaintext one).
  ASSERT_EQ(t.ignored.size(), 1u);
  EXPECT_EQ(t.ignored[0].first.key(), id.key());
  EXPECT_FALSE(t.ignored[0].second);
}

}  // namespace
}  // namespace l7tap::agent
