#include "protocols/dns_message.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "dns_wire.h"
#include "protocols/dns_session.h"

namespace l7tap::protocols {
namespace {

using testing::Bytes;
using testing::Framed;
using testing::kNoError;
using testing::kNxDomain;
using testing::kServFail;
using testing::kTypeA;
using testing::kTypeAaaa;
using testing::kTypeNs;
using testing::kTypeSoa;
using testing::Query;
using testing::Response;

const std::vector<std::string> kSoa = {
    "example.com. 3600 IN SOA ns.icann.org. noc.dns.icann.org. 2024081419 7200 3600 1209600 3600"};

// A header (id 0x1234, RD) with the given counts, followed by `body`.
Bytes Header(uint16_t qdcount, const Bytes& body, uint16_t ancount = 0) {
  Bytes b(12 + body.size());  // sized up front: GCC 12 misreads insert() here as an out-of-bounds copy
  const Bytes header{0x12,
                     0x34,
                     0x01,
                     0x00,
                     static_cast<uint8_t>(qdcount >> 8),
                     static_cast<uint8_t>(qdcount),
                     0x00,
                     static_cast<uint8_t>(ancount),
                     0x00,
                     0x00,
                     0x00,
                     0x00};
  std::copy(header.begin(), header.end(), b.begin());
  std::copy(body.begin(), body.end(), b.begin() + 12);
  return b;
}

void ExpectRejected(const Bytes& b, const std::string& reason) {
  auto r = ParseDnsMessage(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), reason);
}

void ExpectMalformed(const Bytes& b) {
  auto r = ParseDnsMessage(b);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().starts_with("malformed (ldns: ")) << r.error();
}

TEST(DnsMessage, AQuery) {
  auto r = ParseDnsMessage(Query("example.com.", kTypeA, 0xbeef));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->id, 0xbeef);
  EXPECT_FALSE(r->response);
  EXPECT_EQ(r->opcode, 0);
  EXPECT_EQ(r->rcode, 0);
  EXPECT_FALSE(r->truncated);
  ASSERT_EQ(r->questions.size(), 1u);
  EXPECT_EQ(r->questions[0].name, "example.com");
  EXPECT_EQ(r->questions[0].type, kTypeA);
  EXPECT_EQ(r->questions[0].klass, 1);
}

TEST(DnsMessage, AaaaResponseWithAnswers) {
  auto r = ParseDnsMessage(Response("www.example.com.", kTypeAaaa, 7, kNoError,
                                    {"www.example.com. 300 IN CNAME example.com.",
                                     "example.com. 300 IN AAAA 2606:2800:220:1:248:1893:25c8:1946"}));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->id, 7);
  EXPECT_TRUE(r->response);
  EXPECT_EQ(r->rcode, kNoError);
  ASSERT_EQ(r->questions.size(), 1u);
  EXPECT_EQ(r->questions[0].name, "www.example.com");
  EXPECT_EQ(r->questions[0].type, kTypeAaaa);
}

TEST(DnsMessage, NxDomainAndServFail) {
  auto nx = ParseDnsMessage(Response("nope.example.com.", kTypeA, 1, kNxDomain, {}, kSoa));
  ASSERT_TRUE(nx.ok()) << nx.error();
  EXPECT_TRUE(nx->response);
  EXPECT_EQ(nx->rcode, kNxDomain);
  EXPECT_STREQ(DnsRcodeName(nx->rcode), "NXDOMAIN");

  auto sf = ParseDnsMessage(Response("broken.example.", kTypeSoa, 2, kServFail));
  ASSERT_TRUE(sf.ok()) << sf.error();
  EXPECT_EQ(sf->rcode, kServFail);
  EXPECT_EQ(sf->questions[0].type, kTypeSoa);
  EXPECT_STREQ(DnsRcodeName(sf->rcode), "SERVFAIL");
}

TEST(DnsMessage, TruncatedBit) {
  auto r = ParseDnsMessage(Response("big.example.", kTypeA, 3, kNoError, {}, {}, /*truncated=*/true));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->truncated);
}

TEST(DnsMessage, NamesLowercasedWithoutTrailingDot) {
  // Resolvers randomise case (DNS 0x20) and servers echo it.
  auto r = ParseDnsMessage(Query("wWw.ExAmPlE.oRg.", kTypeA, 1));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->questions[0].name, "www.example.org");

  auto root = ParseDnsMessage(Query(".", kTypeNs, 2));
  ASSERT_TRUE(root.ok()) << root.error();
  EXPECT_EQ(root->questions[0].name, ".");
}

TEST(DnsMessage, SeveralQuestions) {
  // Two questions, hand-written: a.b/A and c/AAAA.
  auto r = ParseDnsMessage(Header(2, {1, 'a', 1, 'B', 0, 0, 1, 0, 1, /**/ 1, 'c', 0, 0, 28, 0, 1}));
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->questions.size(), 2u);
  EXPECT_EQ(r->questions[0].name, "a.b");
  EXPECT_EQ(r->questions[1].name, "c");
  EXPECT_EQ(r->questions[1].type, kTypeAaaa);
}

TEST(DnsMessage, ShortHeader) {
  ExpectRejected({}, "shorter than a DNS header");
  ExpectRejected(Bytes(11, 0), "shorter than a DNS header");
}

TEST(DnsMessage, QuestionCount) {
  ExpectRejected(Header(0, {}), "question count 0");
  ExpectRejected(Header(65535, {0, 0, 1, 0, 1}), "question count 65535 (at most 4)");
  ExpectRejected(Header(5, {0, 0, 1, 0, 1}), "question count 5 (at most 4)");
}

TEST(DnsMessage, CompressionLoops) {
  // A name that is a pointer to itself (offset 12).
  ExpectMalformed(Header(1, {0xc0, 0x0c, 0, 1, 0, 1}));
  // Two pointers pointing at each other.
  ExpectMalformed(Header(1, {0xc0, 0x0e, 0xc0, 0x0c, 0, 1, 0, 1}));
  // A label followed by a pointer back to that label.
  ExpectMalformed(Header(1, {3, 'a', 'b', 'c', 0xc0, 0x0c, 0, 1, 0, 1}));
  // Pointer beyond the message.
  ExpectMalformed(Header(1, {0xc0, 0xff, 0, 1, 0, 1}));
}

TEST(DnsMessage, LabelsPastTheEnd) {
  ExpectMalformed(Header(1, {63, 'a', 'b', 'c'}));
  ExpectMalformed(Header(1, {3, 'a', 'b', 'c'}));           // no terminating root label
  ExpectMalformed(Header(1, {3, 'a', 'b', 'c', 0, 0, 1}));  // class cut
  // Question fine, but the announced answer record is missing.
  ExpectMalformed(Header(1, {3, 'a', 'b', 'c', 0, 0, 1, 0, 1}, /*ancount=*/1));
}

TEST(DnsMessage, RandomGarbageRejected) {
  const std::string http = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  EXPECT_FALSE(ParseDnsMessage(Bytes(http.begin(), http.end())).ok());
  std::mt19937 rng(20240601);
  for (int i = 0; i < 2000; ++i) {
    Bytes b(rng() % 600);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    auto r = ParseDnsMessage(b);
    ASSERT_FALSE(r.ok()) << "garbage #" << i << " parsed";
    EXPECT_FALSE(r.error().empty());
  }
}

TEST(DnsMessage, HeadOfACutMessage) {
  const Bytes full = Response("example.com.", kTypeA, 9, kNoError,
                              {"example.com. 300 IN A 93.184.216.34", "example.com. 300 IN A 93.184.216.35"});
  const Bytes question_end = Query("example.com.", kTypeA, 9);  // same header and question, no records
  for (size_t cut = question_end.size(); cut < full.size(); ++cut) {
    const Bytes prefix(full.begin(), full.begin() + static_cast<long>(cut));
    EXPECT_FALSE(ParseDnsMessage(prefix).ok()) << cut;
    auto head = ParseDnsMessageHead(prefix);
    ASSERT_TRUE(head.ok()) << cut << ": " << head.error();
    EXPECT_TRUE(head->response);
    EXPECT_EQ(head->id, 9);
    EXPECT_EQ(head->questions[0].name, "example.com");
  }
  for (size_t cut = 0; cut < question_end.size(); ++cut) {
    EXPECT_FALSE(ParseDnsMessageHead(Bytes(full.begin(), full.begin() + static_cast<long>(cut))).ok()) << cut;
  }
  EXPECT_TRUE(ParseDnsMessageHead(full).ok());
  EXPECT_EQ(ParseDnsMessageHead(Bytes(5, 0)).error(), "shorter than a DNS header");
}

TEST(DnsMessage, TypeNames) {
  const std::vector<std::pair<uint16_t, std::string>> known = {
      {1, "A"},       {2, "NS"},    {5, "CNAME"},  {6, "SOA"},    {12, "PTR"}, {15, "MX"},
      {16, "TXT"},    {28, "AAAA"}, {33, "SRV"},   {35, "NAPTR"}, {43, "DS"},  {46, "RRSIG"},
      {48, "DNSKEY"}, {64, "SVCB"}, {65, "HTTPS"}, {255, "ANY"},  {257, "CAA"}};
  for (const auto& [type, name] : known) EXPECT_EQ(DnsTypeName(type), name);
  for (uint16_t other : {0, 3, 13, 99, 252, 256, 65535}) EXPECT_STREQ(DnsTypeName(other), "_OTHER");
}

TEST(DnsMessage, RcodeNames) {
  const char* names[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                         "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  for (uint8_t i = 0; i < std::size(names); ++i) EXPECT_STREQ(DnsRcodeName(i), names[i]);
  for (uint8_t other : {11, 15, 16, 255}) EXPECT_STREQ(DnsRcodeName(other), "_OTHER");
}

// Deterministic mutation fuzzing: valid messages with random byte changes, cuts, insertions and deletions.
// Nothing may crash (ldns does the bounds checks) and the session must stay bounded.
TEST(DnsMessage, MutatedMessagesNeverCrash) {
  const std::vector<Bytes> seeds = {
      Query("example.com.", kTypeA, 0x1111),
      Query("www.Example.com.", kTypeAaaa, 0x2222),
      Response("www.example.com.", kTypeAaaa, 0x2222, kNoError,
               {"www.example.com. 300 IN CNAME example.com.",
                "example.com. 300 IN AAAA 2606:2800:220:1:248:1893:25c8:1946"}),
      Response("nope.example.com.", kTypeA, 0x3333, kNxDomain, {}, kSoa),
      Response("example.com.", 15, 0x4444, kNoError, {"example.com. 300 IN MX 10 mail.example.com."}),
      Response("example.com.", 16, 0x5555, kNoError, {"example.com. 300 IN TXT \"v=spf1 -all\""}),
  };
  std::mt19937 rng(12345);
  auto below = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  uint64_t parsed = 0;
  uint64_t transactions = 0;
  DnsSession udp([&](DnsTransaction&&) { ++transactions; });
  DnsSession tcp([&](DnsTransaction&&) { ++transactions; });
  constexpr int kIterations = 200000;
  for (int i = 0; i < kIterations; ++i) {
    Bytes b = seeds[below(seeds.size())];
    const int ops = 1 + static_cast<int>(below(4));
    for (int op = 0; op < ops; ++op) {
      switch (below(6)) {
        case 0:  // replace a byte
          if (!b.empty()) b[below(b.size())] = static_cast<uint8_t>(rng());
          break;
        case 1:  // flip a bit
          if (!b.empty()) b[below(b.size())] ^= static_cast<uint8_t>(1u << below(8));
          break;
        case 2:  // truncate
          b.resize(below(b.size() + 1));
          break;
        case 3: {  // insert random bytes
          Bytes extra(1 + below(8));
          for (auto& x : extra) x = static_cast<uint8_t>(rng());
          b.insert(b.begin() + static_cast<long>(below(b.size() + 1)), extra.begin(), extra.end());
          break;
        }
        case 4: {  // delete a range
          if (b.empty()) break;
          const size_t from = below(b.size());
          b.erase(b.begin() + static_cast<long>(from),
                  b.begin() + static_cast<long>(from + 1 + below(b.size() - from)));
          break;
        }
        case 5:  // make a compression pointer somewhere
          if (b.size() > 1) {
            const size_t at = below(b.size() - 1);
            b[at] = static_cast<uint8_t>(0xc0 | below(4));
            b[at + 1] = static_cast<uint8_t>(rng());
          }
          break;
      }
    }
    if (ParseDnsMessage(b).ok()) ++parsed;
    (void)ParseDnsMessageHead(b);
    const Direction dir = below(2) ? Direction::kEgress : Direction::kIngress;
    udp.OnDatagram(dir, static_cast<uint64_t>(i), b, static_cast<uint32_t>(b.size() + below(2) * below(100)));
    const Bytes framed = Framed(b);
    const size_t split = below(framed.size() + 1);
    tcp.OnStream(dir, static_cast<uint64_t>(i), std::span(framed).first(split));
    tcp.OnStream(dir, static_cast<uint64_t>(i), std::span(framed).subspan(split));
    ASSERT_LE(udp.pending(), DnsSession::kMaxPending);
    ASSERT_LE(tcp.pending(), DnsSession::kMaxPending);
  }
  udp.Close();
  tcp.Close();
  // Both outcomes happen: the mutations neither always break nor never break the messages.
  EXPECT_GT(parsed, 1000u);
  EXPECT_LT(parsed, static_cast<uint64_t>(kIterations));
  EXPECT_GT(udp.stats().malformed, 1000u);
  EXPECT_EQ(udp.pending(), 0u);
  EXPECT_EQ(tcp.stats().stream_gaps, 0u);
  std::printf("fuzz: %llu of %d parsed, %llu transactions, udp malformed %llu, tcp malformed %llu\n",
              static_cast<unsigned long long>(parsed), kIterations,
              static_cast<unsigned long long>(transactions),
              static_cast<unsigned long long>(udp.stats().malformed),
              static_cast<unsigned long long>(tcp.stats().malformed));
}

}  // namespace
}  // namespace l7tap::protocols
