// --web-config parsing on real YAML, with certificates made by openssl and bcrypt hashes made by libxcrypt.
#include "agent/web_config.h"

#include <gtest/gtest.h>

#include "agent/http_tls.h"
#include "web_test_files.h"

namespace l7tap::agent {
namespace {

using testing::Bcrypt;
using testing::MakeCert;
using testing::ReadFile;
using testing::TestDir;
using testing::WriteFile;

class WebConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(MakeCert("web_server")) << "openssl req failed";
    ASSERT_TRUE(MakeCert("web_client_ca"));
    ASSERT_TRUE(MakeCert("web_other"));
  }
  static Result<WebConfig> Parse(const std::string& yaml) { return ParseWebConfig(yaml, TestDir() + "."); }
  static void ExpectError(const std::string& yaml, const std::string& part) {
    auto c = Parse(yaml);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_NE(c.error().find(part), std::string::npos) << c.error();
  }
};

TEST_F(WebConfigTest, EmptyFileMeansPlainHttpWithoutAuth) {
  for (const char* yaml :
       {"", "---\n", "tls_server_config:\nbasic_auth_users:\n", "tls_server_config: {}\n"}) {
    auto c = Parse(yaml);
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_FALSE(c->tls.enabled);
    EXPECT_TRUE(c->users.empty());
    EXPECT_TRUE(c->headers.empty());
  }
}

TEST_F(WebConfigTest, TlsFilesRelativeToTheConfigsDirectory) {
  auto c = Parse(
      "tls_server_config:\n"
      "  cert_file: web_server.crt\n"
      "  key_file: web_server.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n"
      "  client_ca_file: web_client_ca.crt\n"
      "  min_version: TLS13\n"
      "  prefer_server_cipher_suites: false\n");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->tls.enabled);
  EXPECT_EQ(c->tls.cert_pem, ReadFile(TestDir() + "web_server.crt"));
  EXPECT_EQ(c->tls.key_pem, ReadFile(TestDir() + "web_server.key"));
  EXPECT_EQ(c->tls.client_ca_pem, ReadFile(TestDir() + "web_client_ca.crt"));
  EXPECT_EQ(c->tls.client_auth, ClientAuth::kRequireAndVerify);
  EXPECT_EQ(c->tls.min_version, TlsVersion::kTls13);
  EXPECT_EQ(c->tls.max_version, TlsVersion::kTls13);
  EXPECT_EQ(TlsPriorities(c->tls), "NORMAL:-VERS-ALL:+VERS-TLS1.3");
  auto loaded = HttpTls::Load(c->tls);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ((*loaded)->priorities(), "NORMAL:-VERS-ALL:+VERS-TLS1.3");
}

TEST_F(WebConfigTest, InlineCertificateAndDefaults) {
  const std::string cert = ReadFile(TestDir() + "web_server.crt"),
                    key = ReadFile(TestDir() + "web_server.key");
  auto indent = [](const std::string& pem) {
    std::string out;
    for (char ch : pem) out += ch == '\n' ? std::string("\n    ") : std::string(1, ch);
    return out;
  };
  auto c =
      Parse("tls_server_config:\n  cert: |\n    " + indent(cert) + "\n  key: |\n    " + indent(key) + "\n");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->tls.cert_pem, cert);
  EXPECT_EQ(c->tls.client_auth, ClientAuth::kNone);
  EXPECT_EQ(TlsPriorities(c->tls), "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:%SERVER_PRECEDENCE");
  EXPECT_TRUE(HttpTls::Load(c->tls).ok());
}

TEST_F(WebConfigTest, UsersAndHeaders) {
  const std::string alice = Bcrypt("alice-secret"), bob = Bcrypt("bob-secret", "$2b$");
  ASSERT_FALSE(alice.empty());
  ASSERT_FALSE(bob.empty());
  auto c = Parse("basic_auth_users:\n  alice: " + alice + "\n  bob: '" + bob +
                 "'\nhttp_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n"
                 "    Strict-Transport-Security: max-age=31536000\n    Content-Security-Policy: ''\n");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->users.size(), 2u);
  EXPECT_EQ(c->users.at("alice"), alice);
  EXPECT_EQ(c->users.at("bob"), bob);
  // A blank header is unset; the order of the file is kept.
  ASSERT_EQ(c->headers.size(), 2u);
  EXPECT_EQ(c->headers[0], std::make_pair(std::string("X-Frame-Options"), std::string("deny")));
  EXPECT_EQ(c->headers[1].first, "Strict-Transport-Security");
  ASSERT_EQ(c->notes.size(), 1u);
  EXPECT_NE(c->notes[0].find("http2"), std::string::npos);
}

TEST_F(WebConfigTest, UnknownKeysAreNamed) {
  ExpectError("tls_server_config:\n  cert_file: web_server.crt\n  keyfile: web_server.key\n",
              "tls_server_config.keyfile (line 3): unknown key");
  ExpectError("tls_config:\n  cert_file: x\n", "tls_config (line 1): unknown key");
  ExpectError("http_server_config:\n  header:\n    X-Frame-Options: deny\n", "http_server_config.header");
  ExpectError("http_server_config:\n  headers:\n    X-Powered-By: l7tap\n", "X-Powered-By");
  ExpectError("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
              "\"allow\" is not one of deny");
  ExpectError("tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "not supported");
  ExpectError("rate_limit:\n  burst: 1\n", "rate_limit");
  ExpectError("basic_auth_users:\n  alice: a\n  alice: b\n", "given twice");
}

TEST_F(WebConfigTest, BadValuesAreNamed) {
  ExpectError(
      "tls_server_config:\n  cert_file: web_server.crt\n  key_file: web_server.key\n  min_version: TLS9\n",
      "tls_server_config.min_version (line 4): \"TLS9\" is not one of");
  ExpectError(
      "tls_server_config:\n  cert_file: web_server.crt\n  key_file: web_server.key\n"
      "  client_auth_type: Sometimes\n",
      "client_auth_type (line 4)");
  ExpectError(
      "tls_server_config:\n  cert_file: web_server.crt\n  key_file: web_server.key\n"
      "  min_version: TLS13\n  max_version: TLS12\n",
      "min_version TLS13 is above max_version TLS12");
  ExpectError("tls_server_config:\n  cert_file: web_server.crt\n", "missing key_file");
  ExpectError("tls_server_config:\n  key_file: web_server.key\n", "missing cert_file");
  ExpectError("tls_server_config:\n  cert_file: nowhere.crt\n  key_file: web_server.key\n",
              "tls_server_config.cert_file " + TestDir() + "./nowhere.crt: cannot read it (No such file");
  ExpectError(
      "tls_server_config:\n  cert_file: web_server.crt\n  key_file: web_server.key\n"
      "  client_ca_file: web_client_ca.crt\n",
      "client_auth_type is NoClientCert");
  ExpectError(
      "tls_server_config:\n  cert_file: web_server.crt\n  key_file: web_server.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n",
      "give client_ca_file");
  ExpectError("basic_auth_users:\n  alice: plaintext-password\n",
              "basic_auth_users.alice (line 2): not a bcrypt hash");
  ExpectError("basic_auth_users:\n  alice: [a]\n", "not a bcrypt hash");
  ExpectError("http_server_config:\n  http2: maybe\n", "expected true or false");
  ExpectError("tls_server_config: [1, 2]\n", "expected a mapping");
  ExpectError("tls_server_config:\n  cert_file: [\n", "not valid YAML");
  // The hash stays out of the message.
  auto c = Parse("basic_auth_users:\n  alice: $2y$04$short\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().find("short"), std::string::npos) << c.error();
}

TEST_F(WebConfigTest, KeyOfAnotherCertificateIsRefusedAtLoad) {
  auto c = Parse("tls_server_config:\n  cert_file: web_server.crt\n  key_file: web_other.key\n");
  ASSERT_TRUE(c.ok()) << c.error();
  auto loaded = HttpTls::Load(c->tls);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().find("cannot be used together"), std::string::npos) << loaded.error();
  WriteFile(TestDir() + "web_garbage.crt", "not a certificate\n");
  auto garbage = Parse("tls_server_config:\n  cert_file: web_garbage.crt\n  key_file: web_server.key\n");
  ASSERT_TRUE(garbage.ok()) << garbage.error();
  EXPECT_FALSE(HttpTls::Load(garbage->tls).ok());
}

TEST_F(WebConfigTest, LoadNamesTheFile) {
  const std::string path = TestDir() + "web_unknown.yml";
  WriteFile(path, "tls_server_config:\n  bogus: 1\n");
  auto c = LoadWebConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().rfind("--web-config " + path + ": tls_server_config.bogus (line 2): unknown key", 0),
            0u)
      << c.error();
  auto missing = LoadWebConfig(TestDir() + "web_absent.yml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("cannot read it (No such file or directory)"), std::string::npos);
}

TEST(BcryptHashTest, Forms) {
  EXPECT_TRUE(IsBcryptHash(testing::Bcrypt("x", "$2y$")));
  EXPECT_TRUE(IsBcryptHash(testing::Bcrypt("x", "$2b$")));
  EXPECT_TRUE(IsBcryptHash(testing::Bcrypt("x", "$2a$")));
  EXPECT_FALSE(IsBcryptHash("$2y$03$" + std::string(53, 'a')));  // cost below 4
  EXPECT_FALSE(IsBcryptHash("$2x$10$" + std::string(53, 'a')));
  EXPECT_FALSE(IsBcryptHash("$2y$10$" + std::string(52, 'a')));
  EXPECT_FALSE(IsBcryptHash("$2y$10$" + std::string(52, 'a') + "!"));
  EXPECT_FALSE(IsBcryptHash("$6$salt$hash"));
}

}  // namespace
}  // namespace l7tap::agent
