#pragma once
// The endpoint's TLS side (GnuTLS, through libmicrohttpd): the server certificate and key, and the client
// certificate policy of --web-config's client_auth_type. libmicrohttpd asks for the certificate during each
// handshake (MHD_OPTION_HTTPS_CERT_CALLBACK); that is where the session is told whether to ask for, require
// and verify a client certificate, so a refused client fails the handshake itself.
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/web_config.h"
#include "common/result.h"

namespace l7tap::agent {

class HttpTls {
 public:
  // Parses the certificate chain and key (and checks they belong together) and the client CA.
  static Result<std::unique_ptr<HttpTls>> Load(const TlsServerConfig& config);
  ~HttpTls();
  HttpTls(const HttpTls&) = delete;
  HttpTls& operator=(const HttpTls&) = delete;

  // Makes this the credentials the certificate callback hands out (one TLS endpoint per process: the
  // callback has no closure). Fails when another is installed.
  Result<Ok> Install();
  void Uninstall();

  static gnutls_certificate_retrieve_function2* Callback();
  const std::string& priorities() const { return priorities_; }
  const std::string& client_ca_pem() const { return client_ca_pem_; }  // empty: none

 private:
  HttpTls() = default;
  static int Retrieve(gnutls_session_t session, const gnutls_datum_t* req_ca_rdn, int nreqs,
                      const gnutls_pk_algorithm_t* pk_algos, int pk_algos_length, gnutls_pcert_st** pcert,
                      unsigned int* pcert_length, gnutls_privkey_t* pkey);
  static int Verify(gnutls_session_t session);

  std::vector<gnutls_pcert_st> chain_;
  gnutls_privkey_t key_ = nullptr;
  ClientAuth client_auth_ = ClientAuth::kNone;
  std::string priorities_;
  std::string client_ca_pem_;
};

}  // namespace l7tap::agent
