// The hellos' fields and handshake messages put back together across records.
#include "protocols/tls_handshake.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace l7tap::protocols {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Vec(size_t length_bytes, const std::string& body) {
  std::string len;
  for (size_t i = length_bytes; i-- > 0;) len.push_back(char(body.size() >> (8 * i)));
  return len + body;
}

std::string Ext(uint16_t type, const std::string& data) {
  return std::string{char(type >> 8), char(type)} + Vec(2, data);
}

std::string ClientHelloBody(const std::string& extensions, const std::string& session_id = "") {
  return "\x03\x03" + std::string(32, '\x42') + Vec(1, session_id) +
         Vec(2, std::string("\x13\x01\x13\x02", 4)) + Vec(1, std::string(1, '\0')) +
         (extensions.empty() ? "" : Vec(2, extensions));
}

std::string ServerHelloBody(const std::string& random, uint16_t suite, const std::string& extensions) {
  return "\x03\x03" + random + Vec(1, "") + std::string{char(suite >> 8), char(suite), '\0'} +
         (extensions.empty() ? "" : Vec(2, extensions));
}

TEST(TlsHello, ClientHelloFields) {
  const auto ch = ParseClientHello(Bytes(
      ClientHelloBody(Ext(43, Vec(1, std::string("\x03\x04\x03\x03", 4))) + Ext(42, "") + Ext(0, Vec(2, "x")),
                      std::string(32, '\x07'))));
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->legacy_version, 0x0303);
  EXPECT_EQ(ch->random[0], 0x42);
  EXPECT_EQ(ch->session_id_length, 32);
  EXPECT_EQ(ch->session_id[31], 0x07);
  EXPECT_TRUE(ch->offers_tls13);
  EXPECT_TRUE(ch->offers_early_data);
  // TLS 1.2 clients: no supported_versions, maybe no extensions at all.
  const auto old = ParseClientHello(Bytes(ClientHelloBody("")));
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->offers_tls13);
  EXPECT_FALSE(old->offers_early_data);
}

TEST(TlsHello, MalformedClientHellos) {
  const std::string good = ClientHelloBody(Ext(43, Vec(1, std::string("\x03\x04", 2))));
  const size_t no_extensions = good.size() - 2 - 7;  // a hello may end before its extensions
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_EQ(ParseClientHello(Bytes(good.substr(0, n))).has_value(), n == no_extensions) << n;
  EXPECT_FALSE(ParseClientHello(Bytes(good + "x")));  // bytes after the extensions
  EXPECT_FALSE(ParseClientHello(Bytes(ClientHelloBody("", std::string(33, '\0')))));  // session id over 32
  EXPECT_FALSE(ParseClientHello(Bytes(ClientHelloBody(Ext(43, std::string("\x05\x03\x04", 3))))));
}

TEST(TlsHello, ServerHelloVersionAndRetry) {
  const std::string random(32, '\x33');
  const auto tls13 =
      ParseServerHello(Bytes(ServerHelloBody(random, 0x1302, Ext(43, std::string("\x03\x04", 2)))));
  ASSERT_TRUE(tls13);
  EXPECT_EQ(tls13->version, 0x0304);
  EXPECT_EQ(tls13->cipher_suite, 0x1302);
  EXPECT_FALSE(tls13->retry_request);
  const auto tls12 = ParseServerHello(Bytes(ServerHelloBody(random, 0xC02F, "")));
  ASSERT_TRUE(tls12);
  EXPECT_EQ(tls12->version, 0x0303);
  EXPECT_EQ(tls12->random[5], 0x33);
  const std::string hrr =
      "\xCF\x21\xAD\x74\xE5\x9A\x61\x11\xBE\x1D\x8C\x02\x1E\x65\xB8\x91\xC2\xA2\x11\x16\x7A\xBB\x8C\x5E\x07"
      "\x9E\x09"
      "\xE2\xC8\xA8\x33\x9C";
  const auto retry =
      ParseServerHello(Bytes(ServerHelloBody(hrr, 0x1301, Ext(43, std::string("\x03\x04", 2)))));
  ASSERT_TRUE(retry);
  EXPECT_TRUE(retry->retry_request);
  EXPECT_FALSE(ParseServerHello(Bytes(ServerHelloBody(random, 0x1301, Ext(43, "\x03")))));
}

std::string Message(uint8_t type, const std::string& body) {
  return std::string(1, char(type)) + Vec(3, body);
}

struct Seen {
  uint8_t type;
  uint32_t length;
  std::string body;
  bool complete;
};

TEST(TlsHandshakeReader, MessagesAcrossAndWithinFeeds) {
  std::vector<Seen> seen;
  TlsHandshakeReader reader([&](const TlsHandshakeMessage& m) {
    seen.push_back({m.type, m.length, std::string(m.body.begin(), m.body.end()), m.complete});
  });
  const std::string ch = ClientHelloBody("");
  const std::string stream = Message(1, ch) + Message(11, std::string(3000, 'c')) + Message(14, "") +
                             Message(24, std::string(1, '\x01'));
  for (size_t at = 0; at < stream.size(); at += 13)
    reader.Feed(Bytes(std::string_view(stream).substr(at, 13)));
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].type, 1);
  EXPECT_EQ(seen[0].body, ch);  // kept
  EXPECT_EQ(seen[1].type, 11);
  EXPECT_EQ(seen[1].length, 3000u);
  EXPECT_TRUE(seen[1].body.empty());  // a certificate is passed by length only
  EXPECT_EQ(seen[2].length, 0u);
  EXPECT_EQ(seen[3].body, "\x01");
  for (const Seen& s : seen) EXPECT_TRUE(s.complete);
  EXPECT_TRUE(reader.at_boundary());
}

TEST(TlsHandshakeReader, UnknownBytesInsideAndAcrossMessages) {
  std::vector<Seen> seen;
  TlsHandshakeReader reader([&](const TlsHandshakeMessage& m) {
    seen.push_back({m.type, m.length, "", m.complete});
  });
  const std::string cert = Message(11, std::string(100, 'c'));
  reader.Feed(Bytes(std::string_view(cert).substr(0, 20)));
  reader.Skip(84);  // the rest of its body, unknown
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].complete);
  EXPECT_FALSE(reader.lost());
  reader.Feed(Bytes(cert.substr(0, 10)));
  reader.Skip(200);  // past its end: the next header is unknown
  EXPECT_TRUE(reader.lost());
  reader.Feed(Bytes(Message(20, std::string(32, 'f'))));  // ignored until a restart
  EXPECT_EQ(seen.size(), 2u);
  reader.Restart();
  reader.Feed(Bytes(Message(20, std::string(32, 'f'))));
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].type, 20);
  EXPECT_TRUE(seen[2].complete);
}

}  // namespace
}  // namespace l7tap::protocols
