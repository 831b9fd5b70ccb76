#include "tls_wire.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace l7tap::protocols::testing {
namespace {

void Fail(const std::string& what) {
  char err[256] = "";
  ERR_error_string_n(ERR_get_error(), err, sizeof(err));
  ERR_clear_error();
  throw std::runtime_error(what + ": " + err);
}

void Check(int ok, const char* what) {
  if (ok <= 0) Fail(what);
}

// A 2048-bit RSA key and a self-signed certificate for it, made once per test run.
struct ServerIdentity {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ServerIdentity() {
    key = EVP_RSA_gen(2048);
    if (!key) Fail("EVP_RSA_gen");
    cert = X509_new();
    Check(X509_set_version(cert, 2), "X509_set_version");
    Check(ASN1_INTEGER_set(X509_get_serialNumber(cert), 1), "serial");
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 365);
    Check(X509_set_pubkey(cert, key), "X509_set_pubkey");
    X509_NAME* name = X509_get_subject_name(cert);
    Check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0),
          "CN");
    Check(X509_set_issuer_name(cert, name), "issuer");
    Check(X509_sign(cert, key, EVP_sha256()), "X509_sign");
  }
};

const ServerIdentity& Identity() {
  static const ServerIdentity identity;
  return identity;
}

void KeyLog(const SSL* ssl, const char* line) {
  static_cast<std::vector<std::string>*>(SSL_get_app_data(ssl))->emplace_back(line);
}

// One side of a connection: its SSL and the memory BIOs it reads from and writes to.
struct End {
  SSL* ssl = nullptr;
  BIO* in = nullptr;   // what it reads (the peer's bytes)
  BIO* out = nullptr;  // what it writes
  bool client = false;
};

struct Connection {
  End client, server;
  std::vector<TlsChunk>* chunks = nullptr;

  // Moves what `from` wrote since the last call to its peer, as one chunk.
  void Pass(End& from) {
    End& to = from.client ? server : client;
    std::string bytes;
    char buf[16384];
    int n;
    while ((n = BIO_read(from.out, buf, sizeof(buf))) > 0) bytes.append(buf, size_t(n));
    if (bytes.empty()) return;
    if (BIO_write(to.in, bytes.data(), int(bytes.size())) != int(bytes.size())) Fail("BIO_write");
    chunks->push_back({from.client, std::move(bytes)});
  }

  // Reads all `e` can read now.
  std::string ReadAll(End& e) {
    std::string got;
    char buf[16384];
    for (;;) {
      const int n = SSL_read(e.ssl, buf, sizeof(buf));
      if (n > 0) {
        got.append(buf, size_t(n));
        continue;
      }
      const int err = SSL_get_error(e.ssl, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_ZERO_RETURN) break;
      Fail("SSL_read");
    }
    Pass(e);  // a KeyUpdate the read answered, or tickets
    return got;
  }

  void Handshake() {
    for (int round = 0; round < 32; ++round) {
      const int c = SSL_do_handshake(client.ssl);
      if (c <= 0 && SSL_get_error(client.ssl, c) != SSL_ERROR_WANT_READ) Fail("client handshake");
      Pass(client);
      const int s = SSL_do_handshake(server.ssl);
      if (s <= 0 && SSL_get_error(server.ssl, s) != SSL_ERROR_WANT_READ) Fail("server handshake");
      Pass(server);
      if (c == 1 && s == 1) {
        ReadAll(client);  // TLS 1.3 session tickets
        return;
      }
    }
    throw std::runtime_error("handshake did not finish");
  }
};

End NewEnd(SSL_CTX* ctx, bool client, std::vector<std::string>* keylog) {
  End e;
  e.client = client;
  e.ssl = SSL_new(ctx);
  e.in = BIO_new(BIO_s_mem());
  e.out = BIO_new(BIO_s_mem());
  if (!e.ssl || !e.in || !e.out) Fail("SSL_new");
  BIO_set_mem_eof_return(e.in, -1);  // empty is "retry", not end of file
  SSL_set_bio(e.ssl, e.in, e.out);
  SSL_set_app_data(e.ssl, keylog);
  if (client) {
    SSL_set_connect_state(e.ssl);
  } else {
    SSL_set_accept_state(e.ssl);
  }
  return e;
}

}  // namespace

TlsStep Write(bool from_client, std::string data, size_t write_size) {
  TlsStep s;
  s.from_client = from_client;
  s.data = std::move(data);
  s.write_size = write_size;
  return s;
}

TlsStep KeyUpdate(bool from_client, bool update_requested) {
  TlsStep s;
  s.kind = TlsStep::Kind::kKeyUpdate;
  s.from_client = from_client;
  s.update_requested = update_requested;
  return s;
}

struct TlsWire::Contexts {
  SSL_CTX* client = nullptr;
  SSL_CTX* server = nullptr;
  ~Contexts() {
    SSL_CTX_free(client);
    SSL_CTX_free(server);
  }
};

TlsWire::TlsWire(const TlsWireOptions& options) : contexts_(std::make_unique<Contexts>()), options_(options) {
  const ServerIdentity& id = Identity();
  contexts_->client = SSL_CTX_new(TLS_client_method());
  contexts_->server = SSL_CTX_new(TLS_server_method());
  for (SSL_CTX* ctx : {contexts_->client, contexts_->server}) {
    if (!ctx) Fail("SSL_CTX_new");
    Check(SSL_CTX_set_min_proto_version(ctx, options.version), "min version");
    Check(SSL_CTX_set_max_proto_version(ctx, options.version), "max version");
    Check(SSL_CTX_set_ciphersuites(ctx, options.ciphersuites.c_str()), "ciphersuites");
    Check(SSL_CTX_set_cipher_list(ctx, options.cipher_list.c_str()), "cipher list");
    SSL_CTX_set_keylog_callback(ctx, KeyLog);
  }
  if (!options.client_groups.empty())
    Check(SSL_CTX_set1_groups_list(contexts_->client, options.client_groups.c_str()), "client groups");
  if (!options.server_groups.empty())
    Check(SSL_CTX_set1_groups_list(contexts_->server, options.server_groups.c_str()), "server groups");
  Check(SSL_CTX_use_certificate(contexts_->server, id.cert), "certificate");
  Check(SSL_CTX_use_PrivateKey(contexts_->server, id.key), "key");
  SSL_CTX_set_session_cache_mode(contexts_->client, SSL_SESS_CACHE_CLIENT);
}

TlsWire::~TlsWire() = default;

TlsWireRun TlsWire::Run(const std::vector<TlsStep>& steps, const TlsSession& resume) {
  TlsWireRun run;
  Connection c;
  c.chunks = &run.chunks;
  c.client = NewEnd(contexts_->client, true, &run.client_keylog);
  c.server = NewEnd(contexts_->server, false, &run.server_keylog);
  if (resume) Check(SSL_set_session(c.client.ssl, static_cast<SSL_SESSION*>(resume.get())), "set session");
  try {
    c.Handshake();
    for (const TlsStep& step : steps) {
      End& from = step.from_client ? c.client : c.server;
      End& to = step.from_client ? c.server : c.client;
      if (step.kind == TlsStep::Kind::kKeyUpdate) {
        Check(SSL_key_update(from.ssl,
                             step.update_requested ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED),
              "SSL_key_update");
        Check(SSL_do_handshake(from.ssl), "send key update");
        c.Pass(from);
        c.ReadAll(to);
        continue;
      }
      for (size_t at = 0; at < step.data.size(); at += step.write_size) {
        const size_t n = std::min(step.write_size, step.data.size() - at);
        if (SSL_write(from.ssl, step.data.data() + at, int(n)) != int(n)) Fail("SSL_write");
        c.Pass(from);
      }
      const std::string got = c.ReadAll(to);
      if (got != step.data) throw std::runtime_error("the peer read other bytes than were written");
      (step.from_client ? run.client_sent : run.server_sent) += step.data;
    }
    if (options_.shutdown) {
      SSL_shutdown(c.client.ssl);
      c.Pass(c.client);
      c.ReadAll(c.server);
      SSL_shutdown(c.server.ssl);
      c.Pass(c.server);
    }
    run.resumed = SSL_session_reused(c.client.ssl) == 1;
    run.cipher = SSL_get_cipher_name(c.client.ssl);
    run.session = TlsSession(SSL_get1_session(c.client.ssl),
                             [](void* s) { SSL_SESSION_free(static_cast<SSL_SESSION*>(s)); });
  } catch (...) {
    SSL_free(c.client.ssl);
    SSL_free(c.server.ssl);
    throw;
  }
  SSL_free(c.client.ssl);
  SSL_free(c.server.ssl);
  return run;
}

std::vector<std::string> SplitRecords(const std::string& stream) {
  std::vector<std::string> records;
  size_t at = 0;
  while (at + 5 <= stream.size()) {
    const size_t length = size_t(uint8_t(stream[at + 3])) << 8 | uint8_t(stream[at + 4]);
    records.push_back(stream.substr(at, 5 + length));
    at += 5 + length;
  }
  if (at < stream.size()) records.push_back(stream.substr(at));
  return records;
}

}  // namespace l7tap::protocols::testing
