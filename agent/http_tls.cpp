#include "agent/http_tls.h"

#include <gnutls/x509.h>

#include <atomic>

namespace l7tap::agent {
namespace {

std::atomic<HttpTls*> g_installed{nullptr};
std::atomic<ClientAuth> g_client_auth{ClientAuth::kNone};

gnutls_datum_t Datum(const std::string& s) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())), static_cast<unsigned>(s.size())};
}

}  // namespace

Result<std::unique_ptr<HttpTls>> HttpTls::Load(const TlsServerConfig& config) {
  std::unique_ptr<HttpTls> t(new HttpTls());
  const std::string where = "--web-config: tls_server_config: ";
  // The pair, as GnuTLS checks it: the key must be the certificate's.
  gnutls_certificate_credentials_t check = nullptr;
  if (gnutls_certificate_allocate_credentials(&check) < 0) return Error{where + "out of memory"};
  gnutls_datum_t cert = Datum(config.cert_pem), key = Datum(config.key_pem);
  const int pair = gnutls_certificate_set_x509_key_mem(check, &cert, &key, GNUTLS_X509_FMT_PEM);
  gnutls_certificate_free_credentials(check);
  if (pair < 0)
    return Error{where + "the certificate (" + config.cert_source + ") and key cannot be used together (" +
                 gnutls_strerror(pair) + "): give the certificate's PEM and its unencrypted private key"};

  unsigned n = 16;  // the certificate and its intermediates
  t->chain_.resize(n);
  const int r = gnutls_pcert_list_import_x509_raw(t->chain_.data(), &n, &cert, GNUTLS_X509_FMT_PEM, 0);
  if (r < 0) {
    t->chain_.clear();  // nothing imported stays
    return Error{where + "cannot read the certificate chain in " + config.cert_source + " (" +
                 gnutls_strerror(r) + "; at most 16 certificates)"};
  }
  t->chain_.resize(n);
  if (gnutls_privkey_init(&t->key_) < 0) return Error{where + "out of memory"};
  if (const int k = gnutls_privkey_import_x509_raw(t->key_, &key, GNUTLS_X509_FMT_PEM, nullptr, 0); k < 0)
    return Error{where + "cannot read the private key (" + std::string(gnutls_strerror(k)) + ")"};

  if (!config.client_ca_pem.empty()) {
    gnutls_x509_crt_t* cas = nullptr;
    unsigned count = 0;
    gnutls_datum_t ca = Datum(config.client_ca_pem);
    const int c = gnutls_x509_crt_list_import2(&cas, &count, &ca, GNUTLS_X509_FMT_PEM, 0);
    for (unsigned i = 0; i < count; ++i) gnutls_x509_crt_deinit(cas[i]);
    gnutls_free(cas);
    if (c < 0 || count == 0)
      return Error{where + "the client CA holds no PEM certificate (" +
                   std::string(c < 0 ? gnutls_strerror(c) : "empty") + ")"};
    t->client_ca_pem_ = config.client_ca_pem;
  }
  t->client_auth_ = config.client_auth;
  t->priorities_ = TlsPriorities(config);
  // The priority string itself, checked here rather than by a handshake that fails.
  gnutls_priority_t prio = nullptr;
  const char* err = nullptr;
  if (const int p = gnutls_priority_init(&prio, t->priorities_.c_str(), &err); p < 0)
    return Error{where + "GnuTLS refuses the TLS versions asked for (" + std::string(gnutls_strerror(p)) +
                 ")"};
  gnutls_priority_deinit(prio);
  return t;
}

HttpTls::~HttpTls() {
  Uninstall();
  for (gnutls_pcert_st& c : chain_) gnutls_pcert_deinit(&c);
  if (key_) gnutls_privkey_deinit(key_);
}

Result<Ok> HttpTls::Install() {
  HttpTls* none = nullptr;
  if (!g_installed.compare_exchange_strong(none, this)) return Error{"another TLS endpoint is running"};
  g_client_auth = client_auth_;
  return Ok{};
}

void HttpTls::Uninstall() {
  HttpTls* self = this;
  g_installed.compare_exchange_strong(self, nullptr);
}

gnutls_certificate_retrieve_function2* HttpTls::Callback() { return &HttpTls::Retrieve; }

int HttpTls::Retrieve(gnutls_session_t session, const gnutls_datum_t*, int, const gnutls_pk_algorithm_t*, int,
                      gnutls_pcert_st** pcert, unsigned int* pcert_length, gnutls_privkey_t* pkey) {
  HttpTls* t = g_installed.load();
  if (!t) return -1;
  // Called while the server picks its certificate, before it sends its CertificateRequest.
  switch (t->client_auth_) {
    case ClientAuth::kNone:
      gnutls_certificate_server_set_request(session, GNUTLS_CERT_IGNORE);
      break;
    case ClientAuth::kRequest:
    case ClientAuth::kVerifyIfGiven:
      gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
      break;
    case ClientAuth::kRequireAny:
    case ClientAuth::kRequireAndVerify:
      gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
      break;
  }
  if (t->client_auth_ == ClientAuth::kVerifyIfGiven || t->client_auth_ == ClientAuth::kRequireAndVerify)
    gnutls_session_set_verify_function(session, &HttpTls::Verify);
  *pcert = t->chain_.data();
  *pcert_length = unsigned(t->chain_.size());
  *pkey = t->key_;
  return 0;
}

// Nonzero fails the handshake. The client's certificate must chain to the client CA and, where it says
// what it is for, be meant for TLS clients (as Go's RequireAndVerifyClientCert checks).
int HttpTls::Verify(gnutls_session_t session) {
  unsigned peers = 0;
  if (gnutls_certificate_get_peers(session, &peers) == nullptr || peers == 0)
    return g_client_auth.load() == ClientAuth::kRequireAndVerify ? -1 : 0;
  gnutls_typed_vdata_st purpose{};
  purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
  purpose.data = reinterpret_cast<unsigned char*>(const_cast<char*>(GNUTLS_KP_TLS_WWW_CLIENT));
  unsigned status = 0;
  if (gnutls_certificate_verify_peers(session, &purpose, 1, &status) < 0) return -1;
  return status == 0 ? 0 : -1;
}

}  // namespace l7tap::agent
