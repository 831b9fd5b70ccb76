#pragma once
// --web-config FILE: the Prometheus exporter-toolkit web configuration (as node_exporter's
// --web.config.file takes it): TLS (tls_server_config), basic authentication (basic_auth_users, bcrypt
// hashes) and extra response headers (http_server_config.headers). Read once at start, strictly: an unknown
// key or a bad value is an error that names it.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace l7tap::agent {

// Go's crypto/tls ClientAuthType names.
enum class ClientAuth { kNone, kRequest, kRequireAny, kVerifyIfGiven, kRequireAndVerify };
enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };
const char* ClientAuthName(ClientAuth a);
const char* TlsVersionName(TlsVersion v);

struct TlsServerConfig {
  bool enabled = false;  // any TLS key given; without them the endpoint serves plain HTTP
  std::string cert_pem, key_pem, client_ca_pem;
  std::string cert_source;  // the file (or "tls_server_config.cert") the certificate came from, for messages
  ClientAuth client_auth = ClientAuth::kNone;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  bool prefer_server_cipher_suites = true;
};

struct WebConfig {
  TlsServerConfig tls;
  std::map<std::string, std::string> users;                  // user -> bcrypt hash
  std::vector<std::pair<std::string, std::string>> headers;  // added to every response
  std::vector<std::string> notes;                            // accepted but without effect (logged at start)
};

// `yaml`: the file's text; `dir`: its directory, which relative file names are taken from (as
// exporter-toolkit does). Reads the certificate, key and CA files. Errors name the key and the fix.
Result<WebConfig> ParseWebConfig(std::string_view yaml, const std::string& dir);
// Reads FILE and parses it; errors start with "--web-config FILE: ".
Result<WebConfig> LoadWebConfig(const std::string& path);

// The GnuTLS priority string for the configured versions.
std::string TlsPriorities(const TlsServerConfig& tls);

// "$2a$", "$2b$" or "$2y$", a cost from 04 to 31 and 53 characters of salt and hash.
bool IsBcryptHash(std::string_view hash);

}  // namespace l7tap::agent
