#include "agent/http_endpoint.h"

#include <microhttpd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <optional>

#include "agent/basic_auth.h"
#include "agent/http_tls.h"
#include "agent/log.h"
#include "agent/monotonic_clock.h"

namespace l7tap::agent {

struct HttpEndpoint::Impl {
  EndpointOptions options;
  EndpointHandlers handlers;
  std::optional<ListenSocket> socket;  // after the daemon: outlives it, removes the unix socket's file
  std::unique_ptr<HttpTls> tls;
  std::unique_ptr<BasicAuth> auth;
  MHD_Daemon* daemon = nullptr;
  std::atomic<bool> started{false};
  std::string description;  // set before the daemon starts

  ~Impl() {
    if (daemon) MHD_stop_daemon(daemon);  // joins its thread, closes the listening socket
    tls.reset();
  }

  static void Log(void* cls, const char* fmt, va_list ap) {
    auto* self = static_cast<Impl*>(cls);
    // Failures to start, as errors; then a line per bad request or failed handshake only at --log-level
    // debug (anyone who can connect could flood the log otherwise).
    const LogLevel level = self->started.load() ? LogLevel::kDebug : LogLevel::kError;
    if (!LogEnabled(level)) return;
    char line[512];
    std::vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = std::strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    Logf(level, "http: %s", line);
  }

  MHD_Result Respond(MHD_Connection* c, unsigned status, const std::string& body, const char* type,
                     bool auth_challenge = false) {
    MHD_Response* r =
        MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (const auto& [name, value] : options.web.headers)
      MHD_add_response_header(r, name.c_str(), value.c_str());
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    const MHD_Result q =
        auth_challenge ? MHD_queue_basic_auth_fail_response(c, "l7tap", r) : MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return q;
  }

  bool Authorized(MHD_Connection* c) {
    if (!auth) return true;
    char* password = nullptr;
    char* user = MHD_basic_auth_get_username_password(c, &password);
    const bool ok = user && password && auth->Check(user, password, MonotonicNs());
    if (password) {
      std::memset(password, 0, std::strlen(password));
      MHD_free(password);
    }
    if (user) MHD_free(user);
    return ok;
  }

  MHD_Result Handle(MHD_Connection* c, const char* url, const char* method) {
    constexpr const char* kText = "text/plain; charset=utf-8";
    if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 && std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
      return Respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", kText);
    if (!Authorized(c)) return Respond(c, MHD_HTTP_UNAUTHORIZED, "unauthorized\n", kText, true);
    const std::string_view path = url;
    try {
      if (path == "/metrics")
        return Respond(c, MHD_HTTP_OK, handlers.metrics(), "text/plain; version=0.0.4; charset=utf-8");
      if (path == "/healthz") {
        const Health h = handlers.health();
        return Respond(c, h.ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, h.text + "\n", kText);
      }
      if (path == "/debug") return Respond(c, MHD_HTTP_OK, handlers.debug(description), kText);
    } catch (const std::exception& e) {
      return Respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, std::string("error: ") + e.what() + "\n", kText);
    }
    return Respond(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /debug\n", kText);
  }

  // libmicrohttpd calls this once the headers are in, then for each piece of a body, then once more. A GET is
  // answered at that last call: answering earlier would close the connection (what of the body is unknown),
  // and Prometheus keeps its connections open between scrapes.
  static MHD_Result Access(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                           const char*, size_t* upload_data_size, void** request) {
    auto* self = static_cast<Impl*>(cls);
    static int started_marker;
    if (*request == nullptr) {
      *request = &started_marker;
      if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 && std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return self->Handle(c, url, method);  // refused at once, its body unread
      return MHD_YES;
    }
    if (*upload_data_size != 0) {  // a GET with a body: ignored
      *upload_data_size = 0;
      return MHD_YES;
    }
    return self->Handle(c, url, method);
  }
};

HttpEndpoint::HttpEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpEndpoint::~HttpEndpoint() = default;

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(EndpointOptions options,
                                                          EndpointHandlers handlers) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handlers = std::move(handlers);
  const WebConfig& web = impl->options.web;
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (web.tls.enabled) {
    if (!MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK))
      return Error{"--web-config: this libmicrohttpd has no TLS support: install one built with GnuTLS"};
    auto tls = HttpTls::Load(web.tls);
    if (!tls) return Error{tls.error()};
    impl->tls = std::move(*tls);
    if (auto installed = impl->tls->Install(); !installed) return Error{"--web-config: " + installed.error()};
    flags |= MHD_USE_TLS;
  }
  if (!web.users.empty()) impl->auth = std::make_unique<BasicAuth>(web.users);

  auto socket = ListenSocket::Open(impl->options.listen);
  if (!socket) return Error{socket.error()};
  impl->socket.emplace(std::move(*socket));
  impl->description = impl->socket->description();
  const std::string& description = impl->description;

  std::vector<MHD_OptionItem> opts = {
      {MHD_OPTION_EXTERNAL_LOGGER, intptr_t(&Impl::Log), impl.get()},
      {MHD_OPTION_LISTEN_SOCKET, impl->socket->fd(), nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, intptr_t(impl->options.max_connections), nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, intptr_t(impl->options.timeout_s), nullptr},
  };
  if (impl->tls) {
    // Pointer options take their pointer in ptr_value, in an option array.
    opts.push_back({MHD_OPTION_HTTPS_CERT_CALLBACK, 0, reinterpret_cast<void*>(HttpTls::Callback())});
    opts.push_back({MHD_OPTION_HTTPS_PRIORITIES, 0, const_cast<char*>(impl->tls->priorities().c_str())});
    // The trust list client certificates are verified against (libmicrohttpd asks for one then too).
    if (!impl->tls->client_ca_pem().empty())
      opts.push_back({MHD_OPTION_HTTPS_MEM_TRUST, 0, const_cast<char*>(impl->tls->client_ca_pem().c_str())});
  }
  opts.push_back({MHD_OPTION_END, 0, nullptr});
  impl->daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &Impl::Access, impl.get(), MHD_OPTION_ARRAY,
                                  opts.data(), MHD_OPTION_END);
  if (!impl->daemon)
    return Error{"cannot serve HTTP on " + description +
                 " (libmicrohttpd refused to start; see the line above)"};
  impl->socket->Release();  // the daemon closes it
  impl->started = true;
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint(std::move(impl)));
  e->description_ = description;
  return e;
}

}  // namespace l7tap::agent
