"""End to end, as root: Go's default HTTP/2 (h2 by ALPN over crypto/tls), next to HTTP/1.1 on the same listener,
for every Go toolchain and build mode fixtures/go produced. Per build: GETs on one connection and on a connection
each, POSTs, 404s, streamed responses (flushed in pieces, several streams at once on one connection), 1 MiB
bodies both ways; and the new endpoints over HTTP/1.1 (HTTPS and plain HTTP); requests cancelled mid-body
(RST_STREAM). Counts must be exact on the server
and the client side, per protocol version (network_protocol_version "2" or "1.1"), method, status and route,
with nothing lost and no parsing noise."""
import os
import time
import unittest

from l7tap_harness import IN_CI, mismatches, sum_samples
from test_go import CLIENT_HIST, GO_DIR, SERVER_HIST, GoCase, GoServer, go_builds

MIB = 1 << 20
STREAM_BYTES = 64   # /stream: "piece 0\n" ... "piece 7\n"
UPLOAD_REPLY = len("received %d\n" % MIB)
STREAM_SECONDS = 7 * 0.001  # /stream: 8 pieces 1 ms apart; its transaction lasts until the last

# (client flags, {(method, status, route): requests}) per protocol; the client checks every response came in
# the protocol asked and, where given, its body length.
H2_TRAFFIC = [
    (dict(path="/", n=10), {("GET", 200, "/"): 10}),                                  # one connection
    (dict(path="/", n=5, keepalive=False), {("GET", 200, "/"): 5}),                   # a connection each
    (dict(path="/upload", n=3, method="POST", expect_bytes=len("received 5\n")), {("POST", 200, "/upload"): 3}),
    # Streams at once on one connection (-warm: the first request opens it, alone; GoHttp2SurplusDialTest
    # has the Transport's dial per concurrent first request).
    (dict(path="/notfound", n=4, c=2, warm=True), {("GET", 404, "/notfound"): 4}),
    (dict(path="/stream", n=9, c=4, warm=True, expect_bytes=STREAM_BYTES), {("GET", 200, "/stream"): 9}),
    (dict(path="/big", n=2, expect_bytes=MIB), {("GET", 200, "/big"): 2}),
    (dict(path="/upload", n=2, method="POST", body_bytes=MIB, expect_bytes=UPLOAD_REPLY),
     {("POST", 200, "/upload"): 2}),
]
HTTP1_TRAFFIC = [
    (dict(path="/stream", n=3, expect_bytes=STREAM_BYTES), {("GET", 200, "/stream"): 3}),  # chunked
    (dict(path="/big", n=2, expect_bytes=MIB), {("GET", 200, "/big"): 2}),
    (dict(path="/upload", n=2, method="POST", body_bytes=MIB, expect_bytes=UPLOAD_REPLY),
     {("POST", 200, "/upload"): 2}),
    (dict(path="/notfound", n=1), {("GET", 404, "/notfound"): 1}),
]


# Counters that must not move while well-formed HTTP/2 is traced from its first byte (node-wide: on a machine
# running other tests at once they may move for those).
H2_NOISE = [("l7tap_http2_desyncs_total", {}), ("l7tap_http2_header_state_lost_total", {}),
            ("l7tap_http2_header_blocks_partial_total", {}), ("l7tap_http2_frames_unknown_stream_total", {}),
            ("l7tap_http2_protocol_errors_total", {}),
            ("l7tap_http_requests_lost_total", {"reason": "http2_frames_lost"}),
            ("l7tap_http_requests_lost_total", {"reason": "http2_streams_over_limit"}),
            ("l7tap_payload_segment_limit_total", {})]


def h2_noise(agent):
    samples = agent.scrape()
    return {"%s%s" % (name, labels or ""): sum_samples(samples, name, **labels) for name, labels in H2_NOISE}


def expected_of(traffic):
    out = {}
    for _, counts in traffic:
        for key, n in counts.items():
            out[key] = out.get(key, 0) + n
    return out


class GoHttp2BuildsTest(GoCase):
    """Every toolchain x {default, stripped, pie, stripped-pie}: exact counts over HTTP/2 and HTTP/1.1."""
    traffic = H2_TRAFFIC
    http1_traffic = HTTP1_TRAFFIC

    def test_every_build(self):
        builds = go_builds()
        self.assertTrue(builds, "no Go fixtures were built (run make deps)")
        if IN_CI and len(builds) < 16 and not os.environ.get("L7TAP_GO_BUILDS"):
            self.fail("only %d of the 16 Go builds exist in CI: %s" % (len(builds), ", ".join(builds)))
        for build in builds:
            with self.subTest(build=build):
                self.check_build(build)

    def send(self, client_bin, base_url, traffic, proto):
        for flags, counts in traffic:
            flags = dict(flags)
            url = base_url + flags.pop("path")
            n = flags.pop("n")
            flags = {k.replace("_", "-"): v for k, v in flags.items()}
            out = self.client(client_bin, url, n, proto=proto, **flags)
            # Every response in the protocol asked, with the body asked: the statuses the client saw are these.
            statuses = {}
            for (_, status, _), count in counts.items():
                statuses[status] = statuses.get(status, 0) + count
            self.assertEqual(out.strip(), "requests %d %s" % (n, " ".join(
                "status %d:%d" % s for s in sorted(statuses.items()))), url)

    def observed(self, port, keys):
        """{(side, version, method, status, route): count} at `port` for the keys, and per (side, version) and
        side in all (None in the unused places)."""
        samples = self.agent.scrape()
        out = {}
        for side, hist in (("server", SERVER_HIST), ("client", CLIENT_HIST)):
            name = hist + "_count"
            out[(side, None, None, None, None)] = sum_samples(samples, name, server_port=port)
            for version in ("2", "1.1"):
                out[(side, version, None, None, None)] = sum_samples(
                    samples, name, server_port=port, network_protocol_version=version)
            for version, method, status, route in keys:
                out[(side, version, method, status, route)] = sum_samples(
                    samples, name, server_port=port, network_protocol_version=version, http_request_method=method,
                    http_response_status_code=status, http_route=route)
                if route == "/stream":
                    out[(side, version, "seconds", "/stream")] = sum_samples(
                        samples, hist + "_sum", server_port=port, network_protocol_version=version,
                        http_route=route)
        return out

    def check_build(self, build):
        server_bin = os.path.join(GO_DIR, build + "-server")
        client_bin = os.path.join(GO_DIR, build + "-client")
        losses, noise, noise2 = self.losses(), self.noise(), h2_noise(self.agent)
        before = self.attached()
        server = GoServer(server_bin, self.cert, self.key, self.tmp)
        try:
            self.wait_attached(before, server_bin)
            # The client binary's first run brings it to the agent's attention; requests are counted from the
            # second run on (see test_go).
            before = self.attached()
            self.client(client_bin, "http://127.0.0.1:%d/" % server.http_port, 0)
            self.wait_attached(before, client_bin)

            h2, http1 = self.traffic, self.http1_traffic
            want = {}  # port -> {(version, method, status, route): n}
            for (method, status, route), n in expected_of(h2).items():
                want.setdefault(server.https_port, {})[("2", method, status, route)] = n
            for port in (server.https_port, server.http_port):
                for (method, status, route), n in expected_of(http1).items():
                    want.setdefault(port, {})[("1.1", method, status, route)] = n
            base = {port: self.observed(port, keys) for port, keys in want.items()}

            https = "https://127.0.0.1:%d" % server.https_port
            self.send(client_bin, https, h2, "h2")
            self.send(client_bin, https, http1, "http1")
            self.send(client_bin, "http://127.0.0.1:%d" % server.http_port, http1, "http1")
            self.assertTrue(server.alive(), "%s exited" % server_bin)
        finally:
            server.stop()

        # What each side must have counted beyond `base`: every key, the totals per version, the totals.
        expected = {}
        for port, keys in want.items():
            for side in ("server", "client"):
                for (version, method, status, route), n in keys.items():
                    expected[(port, side, version, method, status, route)] = n
                    for total in ((version, None, None, None), (None, None, None, None)):
                        k = (port, side) + total
                        expected[k] = expected.get(k, 0) + n
                for version in ("2", "1.1"):
                    expected.setdefault((port, side, version, None, None, None), 0)
        self.wait_totals(want, base)
        got = {}
        for port, keys in want.items():
            now = self.observed(port, keys)
            for key, value in now.items():
                if key[2] == "seconds":  # a lower bound: a streamed response lasts until its last piece
                    n = keys[(key[1], "GET", 200, "/stream")]
                    got[(port,) + key + (">= %g" % (n * STREAM_SECONDS),)] = \
                        value - base[port][key] >= n * STREAM_SECONDS
                    expected[(port,) + key + (">= %g" % (n * STREAM_SECONDS),)] = True
                else:
                    got[(port,) + key] = value - base[port][key]
        got["losses"], expected["losses"] = self.losses(), losses
        got["noise"], expected["noise"] = self.noise(), noise
        got["http2 noise"], expected["http2 noise"] = h2_noise(self.agent), noise2
        wrong = mismatches(got, expected)
        if wrong:
            self.fail("%s: counts beyond those before (port, side, version, method, status, route), losses, "
                      "noise (not_http, parse errors, desyncs, gaps):\n%s" % (build, "\n".join(wrong)))

    def wait_totals(self, want, base, timeout=20.0):
        """Waits, under one deadline, until each port's total on each side reaches what was sent, then lets
        late events land (so over-counting shows)."""
        targets = [(hist + "_count", port, base[port][(side, None, None, None, None)] + sum(keys.values()))
                   for port, keys in want.items() for side, hist in (("server", SERVER_HIST), ("client", CLIENT_HIST))]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.agent.value(name, server_port=port) >= n for name, port, n in targets):
                break
            time.sleep(0.1)
        time.sleep(0.5)

class GoHttp2SurplusDialTest(GoHttp2BuildsTest):
    """Concurrent first requests over HTTP/2, as a default Go client makes them: each dials a TLS connection,
    the Transport keeps the first to negotiate h2 and closes the others right after their handshakes (no
    HTTP/2 byte on them). Every request is counted once, nothing lost. The newest build only."""
    traffic = [(dict(path="/stream", n=8, c=8, expect_bytes=STREAM_BYTES), {("GET", 200, "/stream"): 8})]
    http1_traffic = []

    def test_every_build(self):
        builds = go_builds()
        self.assertTrue(builds, "no Go fixtures were built (run make deps)")
        self.check_build(builds[-1])


class GoHttp2ResetTest(GoCase):
    """Requests the client cancels mid-body over HTTP/2 (/hang holds the response open after its first piece):
    the Transport resets each stream, and each is counted once on each side with the status it had (200) and
    error_type="rst_stream"; the request the client makes after them (GET /) is counted plainly. Oldest and
    newest toolchain, default builds."""
    CANCELS = 3

    def test_cancelled_streams(self):
        builds = [b for b in go_builds() if b.endswith("-default")]
        self.assertTrue(builds, "no Go fixtures were built (run make deps)")
        for build in sorted({builds[0], builds[-1]}):
            with self.subTest(build=build):
                self.check_build(build)

    def observed(self, port):
        samples = self.agent.scrape()
        out = {}
        for side, hist in (("server", SERVER_HIST), ("client", CLIENT_HIST)):
            name = hist + "_count"
            out[(side, "all")] = sum_samples(samples, name, server_port=port)
            out[(side, "rst_stream")] = sum_samples(samples, name, server_port=port, error_type="rst_stream")
            out[(side, "/hang 200 rst_stream")] = sum_samples(
                samples, name, server_port=port, network_protocol_version="2", http_request_method="GET",
                http_response_status_code=200, http_route="/hang", error_type="rst_stream")
            out[(side, "/ 200")] = sum_samples(samples, name, server_port=port, network_protocol_version="2",
                                               http_request_method="GET", http_response_status_code=200,
                                               http_route="/")
        return out

    def check_build(self, build):
        client_bin = os.path.join(GO_DIR, build + "-client")
        losses, noise, noise2 = self.losses(), self.noise(), h2_noise(self.agent)
        before = self.attached()
        server = GoServer(os.path.join(GO_DIR, build + "-server"), self.cert, self.key, self.tmp)
        try:
            self.wait_attached(before, build + "-server")
            before = self.attached()
            self.client(client_bin, "http://127.0.0.1:%d/" % server.http_port, 0)
            self.wait_attached(before, client_bin)
            port = server.https_port
            base = self.observed(port)
            out = self.client(client_bin, "https://127.0.0.1:%d/hang" % port, self.CANCELS, proto="h2",
                              **{"cancel-after-bytes": len("piece 0\n")})
            self.assertEqual(out.strip(), "requests %d status 200:%d" % (self.CANCELS, self.CANCELS))
            self.assertTrue(server.alive(), "%s-server exited" % build)
        finally:
            server.stop()
        total = self.CANCELS + 1
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
                self.agent.value(h + "_count", server_port=port) < base[(side, "all")] + total
                for side, h in (("server", SERVER_HIST), ("client", CLIENT_HIST))):
            time.sleep(0.1)
        time.sleep(0.5)
        got = {k: v - base[k] for k, v in self.observed(port).items()}
        want = {}
        for side in ("server", "client"):
            want.update({(side, "all"): total, (side, "rst_stream"): self.CANCELS,
                         (side, "/hang 200 rst_stream"): self.CANCELS, (side, "/ 200"): 1})
        got["losses"], want["losses"] = self.losses(), losses
        got["noise"], want["noise"] = self.noise(), noise
        got["http2 noise"], want["http2 noise"] = h2_noise(self.agent), noise2
        wrong = mismatches(got, want)
        if wrong:
            self.fail("%s: beyond what was there before at port %d:\n%s" % (build, port, "\n".join(wrong)))


if __name__ == "__main__":
    unittest.main()
