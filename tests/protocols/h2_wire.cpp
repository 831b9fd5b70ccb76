#include "h2_wire.h"

#include <nghttp2/nghttp2.h>

#include <cstring>
#include <map>
#include <stdexcept>

namespace l7tap::protocols::testing {
namespace {

struct Body {
  std::string data;
  size_t at = 0;
  bool trailers_after = false;
};

struct Pair {
  nghttp2_session* client = nullptr;
  nghttp2_session* server = nullptr;
  std::vector<WireChunk>* out = nullptr;
  std::map<int32_t, const H2Exchange*> by_stream;  // server side: what to answer
  std::map<int32_t, Body> bodies;                  // both sides: body being sent, by stream
  const H2Options* options = nullptr;
  bool goaway_sent = false;
};

void Check(int rv, const char* what) {
  if (rv != 0) throw std::runtime_error(std::string(what) + ": " + nghttp2_strerror(rv));
}

nghttp2_nv Nv(const std::string& name, const std::string& value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

ssize_t Send(nghttp2_session* session, const uint8_t* data, size_t length, int, void* user) {
  auto* p = static_cast<Pair*>(user);
  p->out->push_back({session == p->client, std::string(reinterpret_cast<const char*>(data), length)});
  return ssize_t(length);
}

ssize_t ReadBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                 nghttp2_data_source*, void* user) {
  auto* p = static_cast<Pair*>(user);
  Body& b = p->bodies[stream_id];
  const size_t n = std::min(length, b.data.size() - b.at);
  std::memcpy(buf, b.data.data() + b.at, n);
  b.at += n;
  if (b.at == b.data.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (b.trailers_after && session == p->server) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const H2Exchange& e = *p->by_stream.at(stream_id);
      std::vector<nghttp2_nv> nv;
      for (const auto& [k, v] : e.trailers) nv.push_back(Nv(k, v));
      Check(nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size()), "submit_trailer");
    }
  }
  return ssize_t(n);
}

void Answer(Pair& p, int32_t stream_id) {
  const H2Exchange& e = *p.by_stream.at(stream_id);
  nghttp2_session* s = p.server;
  if (e.reset) {
    Check(nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL), "rst");
    return;
  }
  if (e.informational) {
    const std::string code = std::to_string(e.informational);
    const std::string status = ":status";
    nghttp2_nv nv[] = {Nv(status, code)};
    Check(nghttp2_submit_headers(s, NGHTTP2_FLAG_NONE, stream_id, nullptr, nv, 1, nullptr), "1xx");
  }
  const std::string code = std::to_string(e.status);
  const std::string status = ":status";
  std::vector<nghttp2_nv> nv = {Nv(status, code)};
  for (const auto& [k, v] : e.response_headers) nv.push_back(Nv(k, v));
  if (e.trailers_only) {
    for (const auto& [k, v] : e.trailers) nv.push_back(Nv(k, v));
    Check(
        nghttp2_submit_headers(s, NGHTTP2_FLAG_END_STREAM, stream_id, nullptr, nv.data(), nv.size(), nullptr),
        "trailers-only");
    return;
  }
  if (e.response_body.empty() && e.trailers.empty()) {
    Check(nghttp2_submit_response(s, stream_id, nv.data(), nv.size(), nullptr), "response");
    return;
  }
  p.bodies[stream_id] = Body{e.response_body, 0, !e.trailers.empty()};
  nghttp2_data_provider dp{};
  dp.read_callback = ReadBody;
  Check(nghttp2_submit_response(s, stream_id, nv.data(), nv.size(), &dp), "response");
}

int ServerFrame(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* p = static_cast<Pair*>(user);
  if (session != p->server) return 0;
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && p->by_stream.contains(frame->hd.stream_id)) {
    const int32_t id = frame->hd.stream_id;
    if (p->options->goaway_after && id == 1 && !p->goaway_sent) {
      // Before the answer: streams above 1 are refused, whatever arrived already.
      p->goaway_sent = true;
      Check(nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, nullptr, 0), "goaway");
    }
    if (!p->goaway_sent || id == 1) Answer(*p, id);
  }
  return 0;
}

ssize_t Padding(nghttp2_session*, const nghttp2_frame* frame, size_t max_payloadlen, void* user) {
  const size_t pad = static_cast<Pair*>(user)->options->padding;
  return ssize_t(std::min(max_payloadlen, frame->hd.length + pad));
}

nghttp2_session* NewSession(Pair& p, bool client) {
  nghttp2_session_callbacks* cb;
  Check(nghttp2_session_callbacks_new(&cb), "callbacks");
  nghttp2_session_callbacks_set_send_callback(cb, Send);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, ServerFrame);
  if (!client && p.options->padding) nghttp2_session_callbacks_set_select_padding_callback(cb, Padding);
  nghttp2_option* opt;
  Check(nghttp2_option_new(&opt), "option");
  // The encoder may use all of what the peer announces (nghttp2 keeps 4096 otherwise).
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, p.options->header_table_size);
  nghttp2_session* s = nullptr;
  Check(client ? nghttp2_session_client_new2(&s, cb, &p, opt) : nghttp2_session_server_new2(&s, cb, &p, opt),
        "session");
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, p.options->header_table_size},
                                 {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, p.options->max_frame_size},
                                 {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  Check(nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 4), "settings");
  return s;
}

void Pump(Pair& p, size_t first_new) {
  for (int round = 0; round < 100000; ++round) {
    const size_t before = p.out->size();
    Check(nghttp2_session_send(p.client), "client send");
    Check(nghttp2_session_send(p.server), "server send");
    for (size_t i = first_new; i < p.out->size(); ++i) {
      const WireChunk& c = (*p.out)[i];
      nghttp2_session* to = c.from_client ? p.server : p.client;
      const ssize_t n =
          nghttp2_session_mem_recv(to, reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size());
      if (n < 0 || size_t(n) != c.bytes.size()) throw std::runtime_error("mem_recv failed");
    }
    first_new = p.out->size();
    if (p.out->size() == before && !nghttp2_session_want_write(p.client) &&
        !nghttp2_session_want_write(p.server))
      return;
  }
  throw std::runtime_error("HTTP/2 pair did not settle");
}

void SubmitRequests(Pair& p, const std::vector<H2Exchange>& exchanges) {
  for (const H2Exchange& e : exchanges) {
    const std::string m = ":method", sc = ":scheme", a = ":authority", pa = ":path", http = "http",
                      host = "localhost";
    std::vector<nghttp2_nv> nv = {Nv(m, e.method), Nv(sc, http), Nv(a, host), Nv(pa, e.path)};
    for (const auto& [k, v] : e.request_headers) nv.push_back(Nv(k, v));
    nghttp2_data_provider dp{};
    dp.read_callback = ReadBody;
    const int32_t id = nghttp2_submit_request(p.client, nullptr, nv.data(), nv.size(),
                                              e.request_body.empty() ? nullptr : &dp, nullptr);
    if (id < 0) throw std::runtime_error("submit_request failed");
    if (!e.request_body.empty()) p.bodies[id] = Body{e.request_body, 0, false};
    p.by_stream[id] = &e;
  }
}

}  // namespace

std::vector<WireChunk> RunH2Rounds(const std::vector<std::vector<H2Exchange>>& rounds,
                                   const H2Options& options) {
  std::vector<WireChunk> out;
  Pair p;
  p.out = &out;
  p.options = &options;
  p.client = NewSession(p, true);
  p.server = NewSession(p, false);
  size_t first_new = 0;
  for (const auto& round : rounds) {
    SubmitRequests(p, round);
    Pump(p, first_new);
    first_new = out.size();
  }
  nghttp2_session_del(p.client);
  nghttp2_session_del(p.server);
  return out;
}

std::vector<WireChunk> RunH2cUpgrade(const H2Exchange& first, const std::vector<H2Exchange>& more,
                                     const H2Options& options) {
  std::vector<WireChunk> out;
  Pair p;
  p.out = &out;
  p.options = &options;
  p.client = NewSession(p, true);
  p.server = NewSession(p, false);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
  uint8_t settings[16];
  const ssize_t n = nghttp2_pack_settings_payload(settings, sizeof(settings), iv, 1);
  if (n < 0) throw std::runtime_error("pack settings");
  out.push_back({true, first.method + " " + first.path +
                           " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                           "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                           "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"});
  Check(nghttp2_session_upgrade2(p.server, settings, size_t(n), first.method == "HEAD", nullptr), "upgrade");
  p.by_stream[1] = &first;
  Answer(p, 1);
  out.push_back({false, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"});
  const size_t before = out.size();
  Check(nghttp2_session_send(p.server), "server send");
  // The server's first frames in the chunk of its 101, as a server writing them at once does.
  for (size_t i = before; i < out.size(); ++i) out[before - 1].bytes += out[i].bytes;
  out.resize(before);
  Check(nghttp2_session_upgrade2(p.client, settings, size_t(n), first.method == "HEAD", nullptr), "upgrade");
  const std::string& frames = out.back().bytes;
  const size_t h2 = frames.find("\r\n\r\n") + 4;
  if (nghttp2_session_mem_recv(p.client, reinterpret_cast<const uint8_t*>(frames.data() + h2),
                               frames.size() - h2) != ssize_t(frames.size() - h2))
    throw std::runtime_error("client mem_recv");
  SubmitRequests(p, more);
  Pump(p, out.size());
  nghttp2_session_del(p.client);
  nghttp2_session_del(p.server);
  return out;
}

std::vector<WireChunk> RunH2(const std::vector<H2Exchange>& exchanges, const H2Options& options) {
  return RunH2Rounds({exchanges}, options);
}

}  // namespace l7tap::protocols::testing
