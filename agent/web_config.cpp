#include "agent/web_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace l7tap::agent {
namespace {

// A key's place in the file, for messages: "tls_server_config.min_version (line 3)".
std::string Where(const std::string& key, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  return m.is_null() ? key : key + " (line " + std::to_string(m.line + 1) + ")";
}

struct Bad {
  std::string message;
};

struct Entry {
  std::string name;
  YAML::Node key, value;  // the key's node: where an unknown key is
};

// The keys of a mapping, each once; a null node (the key without a value) is an empty mapping.
std::vector<Entry> Entries(const YAML::Node& node, const std::string& key) {
  std::vector<Entry> out;
  if (!node || node.IsNull()) return out;
  if (!node.IsMap()) throw Bad{Where(key, node) + ": expected a mapping of keys to values"};
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) throw Bad{Where(key, kv.first) + ": keys must be plain strings"};
    std::string name = kv.first.Scalar();
    const std::string full = key.empty() ? name : key + "." + name;
    if (!seen.insert(name).second) throw Bad{Where(full, kv.first) + ": given twice; keep one"};
    out.push_back({std::move(name), kv.first, kv.second});
  }
  return out;
}

std::string Scalar(const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) throw Bad{Where(key, node) + ": expected a string"};
  return node.Scalar();
}

bool Bool(const YAML::Node& node, const std::string& key) {
  bool b = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, b))
    throw Bad{Where(key, node) + ": expected true or false"};
  return b;
}

[[noreturn]] void Unknown(const std::string& key, const YAML::Node& node, std::string_view known) {
  throw Bad{Where(key, node) + ": unknown key (known here: " + std::string(known) + "); remove or fix it"};
}

[[noreturn]] void Unsupported(const std::string& key, const YAML::Node& node, std::string_view why) {
  throw Bad{Where(key, node) + ": not supported by l7tap (" + std::string(why) + "); remove it"};
}

std::string ReadFile(const std::string& path, const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Bad{key + " " + path + ": cannot read it (" + std::strerror(errno) + ")"};
  std::ostringstream s;
  s << in.rdbuf();
  if (s.str().empty()) throw Bad{key + " " + path + ": the file is empty"};
  return s.str();
}

std::string Resolve(const std::string& dir, const std::string& path) {
  return path.empty() || path.front() == '/' || dir.empty() ? path : dir + "/" + path;
}

TlsVersion Version(const YAML::Node& node, const std::string& key) {
  const std::string v = Scalar(node, key);
  for (TlsVersion t : {TlsVersion::kTls10, TlsVersion::kTls11, TlsVersion::kTls12, TlsVersion::kTls13})
    if (v == TlsVersionName(t)) return t;
  throw Bad{Where(key, node) + ": \"" + v + "\" is not one of TLS10, TLS11, TLS12, TLS13"};
}

ClientAuth AuthType(const YAML::Node& node, const std::string& key) {
  const std::string v = Scalar(node, key);
  if (v.empty() || v == "NoClientCert") return ClientAuth::kNone;
  if (v == "RequestClientCert") return ClientAuth::kRequest;
  if (v == "RequireAnyClientCert" || v == "RequireClientCert") return ClientAuth::kRequireAny;
  if (v == "VerifyClientCertIfGiven") return ClientAuth::kVerifyIfGiven;
  if (v == "RequireAndVerifyClientCert") return ClientAuth::kRequireAndVerify;
  throw Bad{Where(key, node) + ": \"" + v +
            "\" is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, "
            "VerifyClientCertIfGiven, RequireAndVerifyClientCert"};
}

void ParseTls(const YAML::Node& node, const std::string& dir, TlsServerConfig& tls) {
  const std::string k = "tls_server_config";
  std::string cert, key, ca, cert_file, key_file, ca_file;
  bool auth_given = false;
  for (const auto& [name, key_node, value] : Entries(node, k)) {
    const std::string full = k + "." + name;
    if (name == "cert") {
      cert = Scalar(value, full);
    } else if (name == "key") {
      key = Scalar(value, full);
    } else if (name == "client_ca") {
      ca = Scalar(value, full);
    } else if (name == "cert_file") {
      cert_file = Scalar(value, full);
    } else if (name == "key_file") {
      key_file = Scalar(value, full);
    } else if (name == "client_ca_file") {
      ca_file = Scalar(value, full);
    } else if (name == "client_auth_type") {
      tls.client_auth = AuthType(value, full);
      auth_given = !Scalar(value, full).empty();
    } else if (name == "min_version") {
      tls.min_version = Version(value, full);
    } else if (name == "max_version") {
      tls.max_version = Version(value, full);
    } else if (name == "prefer_server_cipher_suites") {
      tls.prefer_server_cipher_suites = Bool(value, full);
    } else if (name == "cipher_suites" || name == "curve_preferences") {
      Unsupported(full, key_node, "GnuTLS's defaults for the configured versions are used");
    } else if (name == "client_allowed_sans") {
      Unsupported(full, key_node, "client certificates are verified against client_ca_file only");
    } else {
      Unknown(full, key_node,
              "cert_file, key_file, cert, key, client_auth_type, client_ca_file, client_ca, min_version, "
              "max_version, prefer_server_cipher_suites");
    }
  }
  tls.enabled = !cert.empty() || !key.empty() || !ca.empty() || !cert_file.empty() || !key_file.empty() ||
                !ca_file.empty() || auth_given;
  if (!tls.enabled) return;
  if (!cert.empty() && !cert_file.empty()) throw Bad{k + ": give cert_file or cert, not both"};
  if (!key.empty() && !key_file.empty()) throw Bad{k + ": give key_file or key, not both"};
  if (!ca.empty() && !ca_file.empty()) throw Bad{k + ": give client_ca_file or client_ca, not both"};
  if (cert.empty() && cert_file.empty()) throw Bad{k + ": missing cert_file (the server's certificate, PEM)"};
  if (key.empty() && key_file.empty())
    throw Bad{k + ": missing key_file (the certificate's private key, PEM)"};
  if (!cert_file.empty()) {
    tls.cert_source = Resolve(dir, cert_file);
    tls.cert_pem = ReadFile(tls.cert_source, k + ".cert_file");
  } else {
    tls.cert_source = k + ".cert";
    tls.cert_pem = cert;
  }
  tls.key_pem = key_file.empty() ? key : ReadFile(Resolve(dir, key_file), k + ".key_file");
  if (!ca_file.empty()) tls.client_ca_pem = ReadFile(Resolve(dir, ca_file), k + ".client_ca_file");
  if (!ca.empty()) tls.client_ca_pem = ca;
  if (!tls.client_ca_pem.empty() && tls.client_auth == ClientAuth::kNone)
    throw Bad{k +
              ": a client CA is configured but client_auth_type is NoClientCert; set client_auth_type: "
              "RequireAndVerifyClientCert"};
  if (tls.client_ca_pem.empty() &&
      (tls.client_auth == ClientAuth::kVerifyIfGiven || tls.client_auth == ClientAuth::kRequireAndVerify))
    throw Bad{k + ": client_auth_type " + ClientAuthName(tls.client_auth) +
              " verifies client certificates: give client_ca_file (the CA that signs them)"};
  if (tls.min_version > tls.max_version)
    throw Bad{k + ": min_version " + TlsVersionName(tls.min_version) + " is above max_version " +
              TlsVersionName(tls.max_version)};
}

// exporter-toolkit's list: the headers a Prometheus exporter may be told to add, and their allowed values.
void ParseHttp(const YAML::Node& node, WebConfig& c) {
  const std::string k = "http_server_config";
  for (const auto& [name, key_node, value] : Entries(node, k)) {
    const std::string full = k + "." + name;
    if (name == "http2") {
      Bool(value, full);
      c.notes.push_back(full + " has no effect: the endpoint serves HTTP/1.1 only");
    } else if (name == "headers") {
      static const std::map<std::string, std::vector<std::string>> allowed = {
          {"Strict-Transport-Security", {}},
          {"X-Content-Type-Options", {"nosniff"}},
          {"X-Frame-Options", {"deny", "sameorigin"}},
          {"X-XSS-Protection", {}},
          {"Content-Security-Policy", {}},
      };
      for (const auto& [header, header_node, v] : Entries(value, full)) {
        const std::string where = full + "." + header;
        auto it = allowed.find(header);
        if (it == allowed.end())
          throw Bad{Where(where, header_node) +
                    ": this header can not be configured (allowed: Strict-Transport-Security, "
                    "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy)"};
        const std::string text = v.IsNull() ? std::string() : Scalar(v, where);
        if (text.find_first_of("\r\n") != std::string::npos)
          throw Bad{Where(where, v) + ": a header value is one line"};
        if (!it->second.empty() &&
            std::find(it->second.begin(), it->second.end(), text) == it->second.end()) {
          std::string values;
          for (const std::string& a : it->second) values += (values.empty() ? "" : ", ") + a;
          throw Bad{Where(where, v) + ": \"" + text + "\" is not one of " + values};
        }
        if (!text.empty()) c.headers.emplace_back(header, text);  // blank: unset, as exporter-toolkit does
      }
    } else {
      Unknown(full, key_node, "headers, http2");
    }
  }
}

void ParseUsers(const YAML::Node& node, WebConfig& c) {
  const std::string k = "basic_auth_users";
  for (const auto& [user, user_node, hash] : Entries(node, k)) {
    const std::string full = k + "." + user;
    if (user.empty() || user.find(':') != std::string::npos)
      throw Bad{Where(full, user_node) + ": a user name is not empty and has no ':'"};
    // The hash itself stays out of messages.
    if (!hash.IsScalar() || !IsBcryptHash(hash.Scalar()))
      throw Bad{Where(full, hash) +
                ": not a bcrypt hash ($2y$, $2b$ or $2a$, a cost and 53 characters; e.g. from "
                "htpasswd -nBC 10 \"\" | tr -d ':\\n')"};
    c.users[user] = hash.Scalar();
  }
}

}  // namespace

const char* ClientAuthName(ClientAuth a) {
  switch (a) {
    case ClientAuth::kNone:
      return "NoClientCert";
    case ClientAuth::kRequest:
      return "RequestClientCert";
    case ClientAuth::kRequireAny:
      return "RequireAnyClientCert";
    case ClientAuth::kVerifyIfGiven:
      return "VerifyClientCertIfGiven";
    case ClientAuth::kRequireAndVerify:
      return "RequireAndVerifyClientCert";
  }
  return "?";
}

const char* TlsVersionName(TlsVersion v) {
  switch (v) {
    case TlsVersion::kTls10:
      return "TLS10";
    case TlsVersion::kTls11:
      return "TLS11";
    case TlsVersion::kTls12:
      return "TLS12";
    case TlsVersion::kTls13:
      return "TLS13";
  }
  return "?";
}

bool IsBcryptHash(std::string_view h) {
  // $2y$10$ + 22 characters of salt + 31 of hash.
  if (h.size() != 60 || !(h.starts_with("$2a$") || h.starts_with("$2b$") || h.starts_with("$2y$")))
    return false;
  if (h[6] != '$' || h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9') return false;
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(h.begin() + 7, h.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
           ch == '/';
  });
}

Result<WebConfig> ParseWebConfig(std::string_view yaml, const std::string& dir) {
  WebConfig c;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    for (const auto& [name, key_node, value] : Entries(root, "")) {
      if (name == "tls_server_config")
        ParseTls(value, dir, c.tls);
      else if (name == "http_server_config")
        ParseHttp(value, c);
      else if (name == "basic_auth_users")
        ParseUsers(value, c);
      else if (name == "rate_limit")
        Unsupported(name, key_node, "the endpoint bounds its connections instead");
      else
        Unknown(name, key_node, "tls_server_config, http_server_config, basic_auth_users");
    }
  } catch (const Bad& b) {
    return Error{b.message};
  } catch (const YAML::Exception& e) {
    return Error{"not valid YAML: " +
                 (e.mark.is_null() ? std::string() : "line " + std::to_string(e.mark.line + 1) + ": ") +
                 e.msg};
  }
  return c;
}

Result<WebConfig> LoadWebConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"--web-config " + path + ": cannot read it (" + std::strerror(errno) + ")"};
  std::ostringstream s;
  s << in.rdbuf();
  const size_t slash = path.rfind('/');
  auto c = ParseWebConfig(s.str(), slash == std::string::npos ? std::string() : path.substr(0, slash));
  if (!c) return Error{"--web-config " + path + ": " + c.error()};
  return c;
}

std::string TlsPriorities(const TlsServerConfig& tls) {
  std::string p = "NORMAL:-VERS-ALL";
  static constexpr const char* kNames[] = {"+VERS-TLS1.0", "+VERS-TLS1.1", "+VERS-TLS1.2", "+VERS-TLS1.3"};
  for (int v = int(tls.min_version); v <= int(tls.max_version); ++v) p += std::string(":") + kNames[v];
  if (tls.prefer_server_cipher_suites) p += ":%SERVER_PRECEDENCE";
  return p;
}

}  // namespace l7tap::agent
