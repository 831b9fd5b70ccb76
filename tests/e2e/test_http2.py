"""End to end, as root: HTTP/2 between the world's own clients and servers. curl, h2load and nghttp (all on
nghttp2) against Debian's nginx, over TLS (ALPN h2; the plaintext comes from OpenSSL's uprobes, curl, h2load
and nghttp all link Debian's libssl3) and over cleartext h2c by prior knowledge (from the syscall probes).

Every count is exact and comes from what was sent, as the client itself reported it (curl's --write-out,
h2load's summary, nghttp's statistics): each side's transactions at the test's port, broken down by service,
method, status, route, protocol version and error type, must equal the client's report, and nothing else may
be recorded at that port."""
import collections
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from l7tap_harness import (FIXTURES, Agent, Nginx, Server, free_port, make_cert, missing_dependency, run,
                           stop_process)

SERVER_HIST = "http_server_request_duration_seconds"
CLIENT_HIST = "http_client_request_duration_seconds"
HEADER_STATE_LOST = "l7tap_http2_header_state_lost_total"
# What a header block cut by the copy cap may move: its HPACK state, its decoding, and the frame boundaries
# inside the uncopied part.
HEADER_COUNTERS = (HEADER_STATE_LOST, "l7tap_http2_header_blocks_partial_total", "l7tap_http2_desyncs_total")

INDEX = b"<p>hello</p>\n"
# 1 MiB: 64 DATA frames of nginx's 16 KiB; 16 times nghttp's 64 KiB stream window, so WINDOW_UPDATEs flow too.
BIG = bytes(range(256)) * 4096
FILES = {"index.html": INDEX, "big.bin": BIG}

# What one transaction is told apart by. Absent labels read as None: error_type must be absent on streams
# that ended normally; server_address is the client side's only.
SERVER_KEY = ("service_name", "http_request_method", "http_response_status_code", "http_route",
              "network_protocol_version", "error_type")
CLIENT_KEY = SERVER_KEY + ("server_address",)


def require_tools():
    packages = {"nginx": "nginx-light", "curl": "curl", "h2load": "nghttp2-client", "nghttp": "nghttp2-client"}
    missing = sorted({pkg for tool, pkg in packages.items() if not shutil.which(tool)})
    if missing:
        missing_dependency("HTTP/2 tests need %s (make deps installs them)" % ", ".join(missing))


def breakdown(agent, hist, port, key):
    """{label values in key order: count} of hist's series at server_port=port (series with a zero count, e.g.
    kept until their TTL, are left out)."""
    out = collections.Counter()
    for name, labels, v in agent.scrape():
        if name == hist + "_count" and labels.get("server_port") == str(port) and v:
            out[tuple(labels.get(k) for k in key)] += v
    return dict(out)


# curl's own account of each transfer, one line each: what the expected counts are built from.
CURL_REPORT = ("%{method} %{http_version} %{num_connects} %{response_code} %{size_download} %{exitcode} "
               "%{url_effective}\\n")
CurlTransfer = collections.namedtuple("CurlTransfer", "method version connects status size exitcode path")


def parse_curl_report(text):
    transfers = []
    for line in text.splitlines():
        method, version, connects, status, size, exitcode, url = line.split(" ")
        transfers.append(CurlTransfer(method, version, int(connects), status, int(size), int(exitcode),
                                      urllib.parse.urlsplit(url).path))
    return transfers


def tally(transfers):
    """What curl reported as the expected transactions: Counter{(method, status, route, version, None)}; None:
    no error_type, every stream ended normally."""
    return collections.Counter((t.method, t.status, t.path, t.version, None) for t in transfers)


def tally_nghttp(responses):
    """The same from nghttp's statistics (all GETs over HTTP/2)."""
    return collections.Counter(("GET", r.status, r.path, "2", None) for r in responses)


def curl(groups, *options, timeout=60, exit_code=0):
    """One curl invocation. groups: [(method, [url, ...])], one after the other, separated by --next (curl
    keeps its connections across --next, so all of them can share one); options go to every group; curl must
    exit with exit_code (its last transfer's). Returns curl's report, one CurlTransfer per URL in order."""
    argv = ["curl"]
    for i, (method, urls) in enumerate(groups):
        if i:
            argv.append("--next")
        argv += [*options, "-s", "-k", "-w", CURL_REPORT]
        if method == "POST":
            argv += ["--data-binary", "l7tap"]
        elif method != "GET":
            raise ValueError(method)
        for url in urls:
            argv += ["-o", "/dev/null", url]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != exit_code:
        raise AssertionError("%s: exit code %d, not %d: %s" % (" ".join(argv), r.returncode, exit_code, r.stderr))
    transfers = parse_curl_report(r.stdout)
    if len(transfers) != sum(len(urls) for _, urls in groups):
        raise AssertionError("curl reported %d transfers for %s" % (len(transfers), groups))
    return transfers


H2LOAD_REQUESTS = re.compile(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                             r"(\d+) errored, (\d+) timeout$", re.M)
H2LOAD_STATUS = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx$", re.M)


def h2load(*args, protocol):
    """Runs h2load (its load is bounded by -n); returns its summary {total, started, done, succeeded, failed,
    errored, timeout, 2xx, 3xx, 4xx, 5xx} after checking it negotiated `protocol` (h2 or h2c)."""
    out = run(["h2load", *args], timeout=120)
    requests, status = H2LOAD_REQUESTS.search(out), H2LOAD_STATUS.search(out)
    if not requests or not status:
        raise AssertionError("no h2load summary in:\n" + out)
    if not re.search(r"^Application protocol: %s$" % protocol, out, re.M):
        raise AssertionError("h2load did not speak %s:\n%s" % (protocol, out))
    names = ("total", "started", "done", "succeeded", "failed", "errored", "timeout", "2xx", "3xx", "4xx", "5xx")
    return dict(zip(names, map(int, requests.groups() + status.groups())))


NghttpResponse = collections.namedtuple("NghttpResponse", "status size path")


def parse_nghttp_stats(out):
    """nghttp -s's table (one row per stream: id responseEnd requestStart process code size path) as
    NghttpResponses. size is nghttp's text: bytes, or rounded down to K, M, G (powers of 1024) past them."""
    lines = out.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("id ") and "request path" in line]
    if len(header) != 1:
        raise AssertionError("no nghttp statistics in:\n" + out)
    rows = []
    for line in lines[header[0] + 1:]:
        if not line.strip():
            continue
        fields = line.split()
        rows.append(NghttpResponse(fields[4], fields[5], urllib.parse.urlsplit(fields[6]).path))
    return rows


def nghttp(*args):
    """nghttp -n (bodies discarded) -s over one connection; returns its per-stream statistics."""
    return parse_nghttp_stats(run(["nghttp", "-n", "-s", *args], timeout=60))


class Http2Case(unittest.TestCase):
    """One agent for the class, a certificate in a temp dir, and both of nginx's HTTP/2 flavours per test: TLS
    (`listen ... ssl http2`, h2 or HTTP/1.1 by ALPN) and cleartext h2c by prior knowledge (`listen ... http2`)."""
    maxDiff = None  # a breakdown that differs is shown whole

    @classmethod
    def setUpClass(cls):
        require_tools()
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-h2-")
        try:
            cls.cert, cls.key = make_cert(cls.tmp)
            cls.agent = Agent()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        code, _, err = cls.agent.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, "l7tap did not exit cleanly on SIGTERM: %s" % err

    def setUp(self):
        self.ports = set()
        self.baseline()
        self.tls, self.https = self.serve(tls=True)
        self.h2c, self.http = self.serve(tls=False)

    def baseline(self):
        """Reads the counters a test then checks the change of (call again before each subtest's traffic)."""
        self.loss = self.agent.loss_counters()
        self.books = self.http2_books()
        self.upgraded = self.agent.value("l7tap_connections_upgraded_total")
        self.foreign = self.foreign_http2()

    def http2_books(self):
        """HTTP/2 counters whose change each test knows: streams recorded with an early end (by reason), header
        blocks of streams never opened, requests lost (by reason)."""
        books = collections.Counter()
        for name, labels, v in self.agent.scrape():
            if name == "l7tap_http2_frames_unknown_stream_total":
                books[name] += v
            elif name in ("l7tap_http2_streams_ended_early_total", "l7tap_http_requests_lost_total"):
                books["%s{reason=%s}" % (name, labels.get("reason"))] += v
        return books

    def foreign_http2(self):
        """HTTP/2 and gRPC transactions at ports that are not this test's. The books and loss counters are
        node-wide: on a machine where other HTTP/2 traffic runs meanwhile, they may move for it, and a failure
        says so."""
        hists = (SERVER_HIST, CLIENT_HIST, "rpc_server_duration_seconds", "rpc_client_duration_seconds")
        return sum(v for name, labels, v in self.agent.scrape()
                   if name in [h + "_count" for h in hists] and labels.get("server_port") not in self.ports
                   and (name.startswith("rpc_") or labels.get("network_protocol_version") == "2"))

    def serve(self, tls, server_extra=""):
        """An nginx serving FILES over HTTP/2, stopped at the test's end: (Nginx, base URL)."""
        nginx = Nginx(FILES, tls=(self.cert, self.key) if tls else None, http2=True, server_extra=server_extra)
        self.addCleanup(nginx.stop)
        self.ports.add(str(nginx.port))
        return nginx, "%s://127.0.0.1:%d" % ("https" if tls else "http", nginx.port)

    def assert_exact(self, port, sent, client_service, server_service="nginx", header_state_may_be_lost=False):
        """sent: Counter{(method, status, route, protocol version, error type): n}, from the client's own
        report. Both sides' breakdowns at port must be exactly sent, and the counters read by baseline() must
        have moved by exactly what that traffic makes."""
        total = sum(sent.values())
        self.assertGreater(total, 0)
        self.agent.wait_value(total, SERVER_HIST + "_count", server_port=port)
        self.agent.wait_value(total, CLIENT_HIST + "_count", server_port=port)
        server = breakdown(self.agent, SERVER_HIST, port, SERVER_KEY)
        client = breakdown(self.agent, CLIENT_HIST, port, CLIENT_KEY)
        # One comparison for both sides, so a failure shows both.
        self.assertEqual({"server": server, "client": client},
                         {"server": {(server_service, *k): n for k, n in sent.items()},
                          "client": {(client_service, *k, "127.0.0.1"): n for k, n in sent.items()}})
        ended_early = collections.Counter()
        for (_, _, _, _, error_type), n in sent.items():
            if error_type:
                ended_early[error_type] += n
        self.assert_books(ended_early, header_state_may_be_lost)

    def assert_books(self, ended_early=None, header_state_may_be_lost=False):
        """Since baseline(): per reason, ended_early[reason] more streams that ended early, each seen at both of
        its ends (client and server are both traced); nothing else moved."""
        want = collections.Counter(self.books)
        for reason, n in (ended_early or {}).items():
            want["l7tap_http2_streams_ended_early_total{reason=%s}" % reason] += 2 * n
        have = self.http2_books()
        keys = sorted(set(have) | set(want))
        foreign = self.foreign_http2() - self.foreign
        note = " (and %d HTTP/2 or gRPC transactions of other processes were recorded meanwhile)" % foreign \
            if foreign else ""
        self.assertEqual({k: have[k] for k in keys}, {k: want[k] for k in keys}, "HTTP/2 books" + note)
        loss = self.agent.loss_counters()
        if header_state_may_be_lost:
            for name in list(loss):
                if name.startswith(HEADER_COUNTERS):
                    del loss[name]
        self.assertEqual(loss, {k: v for k, v in self.loss.items() if k in loss}, "loss counters moved" + note)


class CurlTest(Http2Case):
    """curl --http2 (nghttp2 inside libcurl)."""

    def test_tls_many_requests_on_one_connection(self):
        base = self.https
        transfers = curl([("GET", [base + "/", base + "/index.html", base + "/missing", base + "/index.html",
                                   base + "/missing", base + "/"]),
                          ("POST", [base + "/index.html", base + "/index.html"]),  # nginx: 405 for a static file
                          ("GET", [base + "/index.html"])], "--http2")
        self.assertEqual({t.version for t in transfers}, {"2"}, transfers)
        self.assertEqual([t.connects for t in transfers], [1] + [0] * (len(transfers) - 1),
                         "curl did not reuse its one connection")
        sent = tally(transfers)
        self.assertEqual(sent[("POST", "405", "/index.html", "2", None)], 2)  # the traffic is what it should be
        self.assertEqual(sent[("GET", "404", "/missing", "2", None)], 2)
        self.assert_exact(self.tls.port, sent, "curl")

    def test_tls_one_connection_per_request(self):
        transfers = []
        for method, path in (("GET", "/"), ("GET", "/index.html"), ("GET", "/missing"), ("POST", "/index.html"),
                             ("GET", "/index.html"), ("GET", "/missing"), ("GET", "/")):
            transfers += curl([(method, [self.https + path])], "--http2")
        self.assertEqual({(t.version, t.connects) for t in transfers}, {("2", 1)}, transfers)
        sent = tally(transfers)
        self.assertEqual(sorted(set(t.status for t in transfers)), ["200", "404", "405"])
        self.assert_exact(self.tls.port, sent, "curl")

    def test_h2c_prior_knowledge_one_connection_per_request(self):
        # One URL per run: curl 7.88 cannot reuse a prior-knowledge connection (the second transfer fails with
        # error 16; curl/curl#10634, fixed in 7.89). GETs only: its POST over h2c fails on nginx's 405 (exit 92)
        # where the same POST over TLS works. nghttp covers both on one h2c connection (NghttpTest).
        transfers = []
        for path in ("/", "/missing", "/index.html", "/index.html", "/missing"):
            transfers += curl([("GET", [self.http + path])], "--http2-prior-knowledge")
        self.assertEqual({(t.version, t.connects) for t in transfers}, {("2", 1)}, transfers)
        self.assert_exact(self.h2c.port, tally(transfers), "curl")

    def test_http1_keeps_its_version_label(self):
        # The same TLS port offers h2 and http/1.1 by ALPN: each request is labelled with what it spoke.
        transfers = curl([("GET", [self.https + "/", self.https + "/missing", self.https + "/"])], "--http1.1")
        transfers += curl([("GET", [self.https + "/index.html", self.https + "/missing"])], "--http2")
        self.assertEqual([(t.version, t.connects) for t in transfers],
                         [("1.1", 1), ("1.1", 0), ("1.1", 0), ("2", 1), ("2", 0)], transfers)
        self.assert_exact(self.tls.port, tally(transfers), "curl")

    def test_large_responses_on_one_connection(self):
        # Four 1 MiB bodies one after the other on one connection, over TLS (SSL_write of DATA frames) and over
        # h2c (nginx sends each DATA frame's payload with sendfile: counted by length, never copied).
        with self.subTest("TLS, curl"):
            transfers = curl([("GET", [self.https + "/big.bin"] * 4)], "--http2")
            self.assertEqual([(t.version, t.connects, t.status, t.size) for t in transfers],
                             [("2", 1, "200", len(BIG))] + [("2", 0, "200", len(BIG))] * 3, transfers)
            self.assert_exact(self.tls.port, tally(transfers), "curl")
        with self.subTest("h2c, nghttp"):
            self.baseline()
            # curl 7.88 cannot reuse a prior-knowledge connection (above): nghttp makes the one connection, its
            # four streams in flight at once, their DATA frames interleaved.
            responses = nghttp("-m", "4", self.http + "/big.bin")
            # nghttp prints 1 MiB as "1M" (it rounds down: a short body would be "1023K"; a wrong length fails it).
            self.assertEqual([(r.status, r.size) for r in responses], [("200", "1M")] * 4, responses)
            self.assert_exact(self.h2c.port, tally_nghttp(responses), "nghttp")


class UpgradeTest(Http2Case):
    """curl --http2 on an http:// URL asks for "Upgrade: h2c" on its first request; golang.org/x/net's h2c
    server answers 101 and the connection continues as HTTP/2, the upgraded request as stream 1 (nginx and
    nghttpd do not upgrade, so the server here is Go's)."""

    def test_h2c_upgrade_from_http1(self):
        servers = glob.glob(os.path.join(FIXTURES, "go", "h2c", "go*-h2c-server"))
        if not servers:
            missing_dependency("the Go h2c fixture (build/fixtures/go/h2c; make deps installs golang-golang-x-net-dev)")
        port = free_port()
        server = Server([servers[0], "-port", str(port)], port)
        self.addCleanup(server.stop)
        self.ports.add(str(port))
        base = "http://127.0.0.1:%d" % port
        transfers = curl([("GET", [base + "/", base + "/missing", base + "/", base + "/other"])], "--http2")
        # All four on one connection, every one answered as HTTP/2: the first through the upgrade.
        self.assertEqual([(t.version, t.connects) for t in transfers], [("2", 1), ("2", 0), ("2", 0), ("2", 0)],
                         transfers)
        self.assert_exact(port, tally(transfers), "curl", server_service=os.path.basename(servers[0])[:15])
        # Both ends switched protocols once (server and client are both traced).
        self.assertEqual(self.agent.value("l7tap_connections_upgraded_total") - self.upgraded, 2)


class NghttpTest(Http2Case):
    """nghttp: several streams open at once on one connection, with its default dependency-based priorities
    (PRIORITY frames for idle anchor streams before the first request)."""

    def check(self, base, port):
        responses = nghttp("-m", "3", base + "/", base + "/index.html", base + "/missing")
        self.assertEqual(collections.Counter((r.status, r.path) for r in responses),
                         {("200", "/"): 3, ("200", "/index.html"): 3, ("404", "/missing"): 3})
        sent = tally_nghttp(responses)
        # POSTs (nghttp -d), on a second connection: nginx answers 405, then resets the stream with
        # RST_STREAM(NO_ERROR) after the response's END_STREAM (nghttp -v shows it). A reset after a full
        # response is a normal end: no error_type.
        body = os.path.join(self.tmp, "body")
        with open(body, "wb") as f:
            f.write(b"l7tap\n")
        posts = nghttp("-m", "2", "-d", body, base + "/index.html")
        self.assertEqual([r.status for r in posts], ["405"] * 2, posts)
        sent.update(("POST", r.status, r.path, "2", None) for r in posts)
        self.assert_exact(port, sent, "nghttp")

    def test_tls_multiplexed(self):
        self.check(self.https, self.tls.port)

    def test_h2c_multiplexed(self):
        self.check(self.http, self.h2c.port)

    def check_large_headers(self, base, port):
        # nghttp --continuation adds six 4 KiB header fields to every request: each header block (about 24 KiB)
        # is more than one frame, so it goes as HEADERS and CONTINUATION frames, and more than the 16 KiB the
        # kernel copies per event. The pseudo-headers come first in the block, so every request's labels are
        # in the copied part. Header state lost to the cut is allowed (the HTTP/2 header counters are not
        # checked); a request lost or mislabelled is not.
        responses = nghttp("--continuation", "-m", "2", base + "/index.html", base + "/missing")
        self.assertEqual(collections.Counter((r.status, r.path) for r in responses),
                         {("200", "/index.html"): 2, ("404", "/missing"): 2})
        self.assert_exact(port, tally_nghttp(responses), "nghttp", header_state_may_be_lost=True)

    def test_tls_large_request_headers(self):
        self.check_large_headers(self.https, self.tls.port)

    def test_h2c_large_request_headers(self):
        self.check_large_headers(self.http, self.h2c.port)


class H2loadTest(Http2Case):
    """h2load: 2 000 requests on 4 connections with 10 streams in flight on each."""

    def check(self, base, port, protocol):
        summary = h2load("-n", "2000", "-c", "4", "-m", "10", base + "/index.html", protocol=protocol)
        # The load ran as asked (else the environment, not the agent, is broken)...
        self.assertEqual((summary["done"], summary["succeeded"], summary["2xx"]), (2000, 2000, 2000), summary)
        # ...and the agent counts what h2load itself says succeeded.
        self.assert_exact(port, {("GET", "200", "/index.html", "2", None): summary["succeeded"]}, "h2load")

    def test_tls(self):
        self.check(self.https, self.tls.port, "h2")

    def test_h2c_prior_knowledge(self):
        self.check(self.http, self.h2c.port, "h2c")


class StreamErrorTest(Http2Case):
    """Streams that end before a full response are counted with the status they had and an error_type."""

    def test_streams_reset_by_the_client(self):
        # curl --max-filesize gives up on a response whose Content-Length is over the limit as soon as its
        # headers arrive (exit code 63 for that transfer), resets its stream (RST_STREAM: nginx logs "client
        # terminated stream") and makes its next transfer on the same connection. nginx sends /big.bin at
        # 64 KiB/s here, so the reset always comes long before the body's end. The last transfer completes, so
        # curl then closes a connection with nothing in flight.
        nginx, base = self.serve(tls=True, server_extra="location = /big.bin { limit_rate 64k; }")
        transfers = curl([("GET", [base + "/big.bin", base + "/index.html"] * 2)], "--http2", "--max-filesize",
                         "100000")
        self.assertEqual([(t.path, t.exitcode, t.status, t.version, t.connects) for t in transfers],
                         [("/big.bin", 63, "200", "2", 1), ("/index.html", 0, "200", "2", 0),
                          ("/big.bin", 63, "200", "2", 0), ("/index.html", 0, "200", "2", 0)])
        sent = collections.Counter((t.method, t.status, t.path, t.version, "rst_stream" if t.exitcode else None)
                                   for t in transfers)
        self.assert_exact(nginx.port, sent, "curl")

    def test_stream_cut_by_the_connection_close(self):
        # The same, but the reset stream is curl's last transfer: curl then closes the connection at once
        # (nginx logs "client prematurely closed connection while sending response", no reset), so the
        # stream is cut by the close at both ends.
        nginx, base = self.serve(tls=True, server_extra="location = /big.bin { limit_rate 64k; }")
        transfers = curl([("GET", [base + "/index.html", base + "/big.bin"])], "--http2", "--max-filesize",
                         "100000", exit_code=63)
        self.assertEqual([(t.path, t.exitcode, t.status, t.version, t.connects) for t in transfers],
                         [("/index.html", 0, "200", "2", 1), ("/big.bin", 63, "200", "2", 0)])
        sent = collections.Counter((t.method, t.status, t.path, t.version,
                                    "connection_closed" if t.exitcode else None) for t in transfers)
        self.assert_exact(nginx.port, sent, "curl")

    def test_streams_refused_by_goaway(self):
        # nginx ends a connection after keepalive_requests requests with GOAWAY(NO_ERROR, last stream id); the
        # streams nghttp had already opened past that id are never processed, and nghttp says how many ("Some
        # requests were not processed. total=8, processed=5"). Those never had a response, so their status label
        # is not asserted; the rest of their labels is.
        for tls in (True, False):
            with self.subTest(tls=tls):
                self.baseline()
                nginx, base = self.serve(tls, server_extra="keepalive_requests 5;")
                r = subprocess.run(["nghttp", "-n", "-s", "-m", "8", base + "/index.html"], capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                m = re.search(r"Some requests were not processed\. total=(\d+), processed=(\d+)", r.stderr)
                self.assertIsNotNone(m, r.stderr)
                total, processed = int(m.group(1)), int(m.group(2))
                self.assertEqual(total, 8)
                self.assertEqual([x.status for x in parse_nghttp_stats(r.stdout)], ["200"] * processed)
                self.assertGreater(total, processed)
                have, want = {}, {}
                for hist, service in ((SERVER_HIST, "nginx"), (CLIENT_HIST, "nghttp")):
                    count = hist + "_count"
                    labels = dict(server_port=nginx.port, service_name=service, http_request_method="GET",
                                  http_route="/index.html", network_protocol_version="2")
                    self.agent.wait_value(total, count, server_port=nginx.port)
                    have[service] = (self.agent.value(count, error_type=None, http_response_status_code=200,
                                                      **labels),
                                     self.agent.value(count, error_type="goaway", **labels),
                                     self.agent.value(count, server_port=nginx.port))
                    want[service] = (processed, total - processed, total)
                self.assertEqual(have, want, "(ended normally with 200, ended by GOAWAY, all at this port)")
                self.assert_books({"goaway": total - processed})


# An upstream for nginx that holds its answer to /gate until a file appears: a client's first request on a
# connection can then be made before the agent starts, and every later request on that connection only after
# the test releases the gate, which it does once the agent is ready. It answers 203 (to tell its response
# from the 200s that follow) with a page linking the assets nghttp -a then fetches.
GATE_SERVER = r"""
import http.server, os, sys, time
port, arrived, release, page = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].encode()
class Gate(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        open(arrived, "w").close()
        deadline = time.monotonic() + 90
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.send_response(203)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Gate).serve_forever()
"""


class HeaderStateLossTest(unittest.TestCase):
    """An HTTP/2 connection opened before the agent started: the HPACK dynamic tables its two ends built (the
    client's request headers are indexed by nghttp2 on the first request and referenced by index after) were
    never seen, so the agent cannot know every header. What is asserted:

    - The loss is counted, not silent: the connection was seen mid-way at both of its traced ends, so
      l7tap_http2_header_state_lost_total is at least 2 (one per end), and at most 4 (its help text counts "a
      direction's" state: two per end). The agent traces only the nginx worker and the client (--pid), so no
      other process's connections can add to it, and the connection is counted as HTTP/2 at both ends
      (l7tap_http2_connections_total 2).
    - Every request sent on that connection after the agent was ready (the client only sends them once the gate
      opens, which the test does after Agent() returned) is counted, exactly, on the server side (nginx) and on
      the client side, with the labels that decode without the lost state: method GET and status 200 are in
      HPACK's static table (nginx sends :status from it), the protocol version is the connection's. Other
      labels (route, server_address) may be empty here and are not asserted.
    - The gate's own stream (request before the agent, 203 response after) may or may not be counted: the
      agent never saw its request, and the contract leaves it open. So the port's total is N or N + 1.
    - Nothing else was lost: no events, gaps, desyncs or protocol errors.
    Each test runs its own agent, started while the connection is open."""
    N = 6
    maxDiff = None

    def setUp(self):
        require_tools()
        self.tmp = tempfile.mkdtemp(prefix="l7tap-h2-hpack-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.cert, self.key = make_cert(self.tmp)
        self.arrived = os.path.join(self.tmp, "arrived")
        self.release = os.path.join(self.tmp, "release")
        # Released in any case at the end, so the upstream's handler and the client finish.
        self.addCleanup(lambda: open(self.release, "w").close())
        page = "<html><body>%s</body></html>" % "".join('<img src="/img%d.png">' % i for i in range(self.N))
        gate_port = free_port()
        gate = Server(["python3", "-c", GATE_SERVER, str(gate_port), self.arrived, self.release, page], gate_port)
        self.addCleanup(gate.stop)
        self.files = dict(FILES, **{"img%d.png" % i: b"\x89PNG fake %d\n" % i for i in range(self.N)})
        self.gate_location = "location = /gate { proxy_pass http://127.0.0.1:%d; proxy_read_timeout 120s; }" % gate_port

    def start_client(self, nginx, argv, agent_args=()):
        """Starts the client, waits until its first request reached the gate (so the connection is open and its
        header tables are built), then starts the agent, tracing only the client and nginx's worker. Returns
        (client, its stdout file, agent)."""
        out = tempfile.TemporaryFile(mode="w+")
        self.addCleanup(out.close)
        client = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(stop_process, client)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.arrived):
            if time.monotonic() > deadline or client.poll() is not None:
                out.seek(0)
                self.fail("the client's first request never reached the gate: %s" % out.read())
            time.sleep(0.01)
        with open("/proc/%d/task/%d/children" % (nginx.proc.pid, nginx.proc.pid)) as f:
            workers = f.read().split()
        self.assertEqual(len(workers), 1, "nginx workers")  # worker_processes 1
        agent = Agent("--pid", workers[0], "--pid", str(client.pid), *agent_args)
        self.addCleanup(self.stop_agent, agent)
        return client, out, agent

    def stop_agent(self, agent):
        code, _, err = agent.stop()
        self.assertEqual(code, 0, "l7tap did not exit cleanly on SIGTERM: %s" % err)

    def finish_client(self, client, out):
        open(self.release, "w").close()
        try:
            client.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.fail("the client did not finish after the gate opened")
        out.seek(0)
        text = out.read()
        self.assertEqual(client.returncode, 0, text)
        return text

    def assert_counted_after_loss(self, agent, port, client_service):
        n = self.N
        labels = dict(server_port=port, http_request_method="GET", http_response_status_code=200,
                      network_protocol_version="2")
        server = agent.wait_value(n, SERVER_HIST + "_count", service_name="nginx", **labels)
        client = agent.wait_value(n, CLIENT_HIST + "_count", service_name=client_service, **labels)
        self.assertEqual((server, client), (n, n), "requests after the agent was ready: server side, client side")
        for hist in (SERVER_HIST, CLIENT_HIST):
            self.assertIn(agent.value(hist + "_count", server_port=port), (n, n + 1), hist + ": at this port")
        self.assertIn(agent.value(HEADER_STATE_LOST), (2, 3, 4), HEADER_STATE_LOST)
        counters = ("l7tap_http2_connections_total", "l7tap_events_lost_total", "l7tap_stream_gaps_total",
                    "l7tap_http2_desyncs_total", "l7tap_http2_protocol_errors_total")
        self.assertEqual({c: agent.value(c) for c in counters}, dict(zip(counters, (2, 0, 0, 0, 0))))

    def test_tls_curl_connection_open_before_the_agent(self):
        nginx = Nginx(self.files, tls=(self.cert, self.key), http2=True, server_extra=self.gate_location)
        self.addCleanup(nginx.stop)
        base = "https://127.0.0.1:%d" % nginx.port
        # curl makes its transfers one after the other on one connection: /gate first, the rest after it.
        argv = ["curl", "--http2", "-sk", "--max-time", "100", "-w", CURL_REPORT, "-o", "/dev/null", base + "/gate"]
        for i in range(self.N):
            argv += ["-o", "/dev/null", base + "/img%d.png" % i]
        # Plaintext probes: a TLS connection whose handshake came before the agent cannot be decrypted in keys mode
        # (test_tls_keys.PreExistingConnectionTest counts it untraced); the TLS library's plaintext still shows.
        client, out, agent = self.start_client(nginx, argv, ("--tls-capture", "plaintext"))
        report = parse_curl_report(self.finish_client(client, out))
        # One connection, h2, the gate's 203 then N 200s.
        self.assertEqual([(t.version, t.connects, t.status) for t in report],
                         [("2", 1, "203")] + [("2", 0, "200")] * self.N, report)
        self.assert_counted_after_loss(agent, nginx.port, "curl")

    def test_h2c_nghttp_connection_open_before_the_agent(self):
        nginx = Nginx(self.files, http2=True, server_extra=self.gate_location)
        self.addCleanup(nginx.stop)
        # nghttp -a fetches the page's assets on the same connection once the page arrives.
        client, out, agent = self.start_client(nginx, ["nghttp", "-n", "-s", "-a",
                                                       "http://127.0.0.1:%d/gate" % nginx.port])
        responses = parse_nghttp_stats(self.finish_client(client, out))
        self.assertEqual(sorted((r.status, r.path) for r in responses),
                         [("200", "/img%d.png" % i) for i in range(self.N)] + [("203", "/gate")], responses)
        self.assert_counted_after_loss(agent, nginx.port, "nghttp")


if __name__ == "__main__":
    unittest.main(verbosity=2)
