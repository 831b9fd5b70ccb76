#pragma once
// The agent's HTTP endpoint (GNU libmicrohttpd, in its own thread): /metrics (Prometheus text exposition),
// /healthz (200 "ok" or 503 with why) and /debug (a plain-text status page), GET and HEAD only, anything else
// 404 (405 for another method). Bounded: a fixed number of connections at once, each closed after a timeout
// without progress. Optionally TLS, client certificates and basic authentication (--web-config).
#include <functional>
#include <memory>
#include <string>

#include "agent/listen_address.h"
#include "agent/status_page.h"
#include "agent/web_config.h"
#include "common/result.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace l7tap::agent {

struct EndpointHandlers {
  std::function<std::string()> metrics;  // the exposition text
  std::function<Health()> health;
  std::function<std::string(const std::string& listen)> debug;  // `listen`: what the endpoint is bound to
};

struct EndpointOptions {
  ListenAddress listen;
  WebConfig web;                  // default: plain HTTP, no authentication
  unsigned max_connections = 32;  // at once; more wait in the kernel's backlog, then are refused
  unsigned timeout_s = 30;        // a connection idle this long is closed (slow or stuck clients)
};

class HttpEndpoint {
 public:
  // Binds (errors name --listen and the fix) and starts serving.
  static Result<std::unique_ptr<HttpEndpoint>> Start(EndpointOptions options, EndpointHandlers handlers);
  ~HttpEndpoint();  // stops serving, removes a unix socket's file
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  const std::string& description() const { return description_; }  // "[::]:9464 (IPv6 and IPv4)", "unix:..."

 private:
  struct Impl;
  explicit HttpEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string description_;
};

}  // namespace l7tap::agent
