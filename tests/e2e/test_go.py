"""End to end, as root: Go services over HTTP (syscall probes) and HTTPS (Go crypto/tls uprobes), for every Go
toolchain and build mode fixtures/go produced; counts must be exact on both sides."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request
import ssl

from l7tap_harness import Agent, FIXTURES, IN_CI, missing_dependency, run, stop_process

SERVER_HIST = "http_server_request_duration_seconds"
CLIENT_HIST = "http_client_request_duration_seconds"
SOURCE_FIXTURES = os.path.join(os.path.dirname(__file__), "../../fixtures")
GO_DIR = os.path.join(FIXTURES, "go")
GO_LIBRARY = "Go crypto/tls"


def go_builds():
    """'go1.22-stripped-pie' for every build of the server and client pair fixtures/go made (or those named in
    L7TAP_GO_BUILDS, comma-separated)."""
    only = [b for b in os.environ.get("L7TAP_GO_BUILDS", "").split(",") if b]
    builds = []
    for server in glob.glob(os.path.join(GO_DIR, "go1.*-server")):
        build = os.path.basename(server)[:-len("-server")]
        if os.path.exists(os.path.join(GO_DIR, build + "-client")) and (not only or build in only):
            builds.append(build)
    return sorted(builds)


def make_cert(directory):
    run(["bash", os.path.join(SOURCE_FIXTURES, "make_cert.sh"), directory])
    return os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")


class GoServer:
    """A fixtures/go server with an HTTP and an HTTPS listener on free ports."""

    def __init__(self, binary, cert, key, tmp, env=None):
        self.ready = os.path.join(tmp, "ready-%d" % time.monotonic_ns())
        self.proc = subprocess.Popen(
            [binary, "-port", "0", "-tls-port", "0", "-cert", cert, "-key", key, "-ready-file", self.ready],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s did not start: %s" % (binary, self.proc.stderr.read().decode()))
            time.sleep(0.01)
        with open(self.ready) as f:
            ports = dict(line.split() for line in f.read().splitlines())
        self.http_port, self.https_port = int(ports["http"]), int(ports["https"])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        stop_process(self.proc)
        self.proc.stderr.close()
        if os.path.exists(self.ready):
            os.unlink(self.ready)


class GoCase(unittest.TestCase):
    """One agent per class; a certificate in a temp dir. `capture`: --tls-capture (this suite tests the plaintext
    probes; test_tls_keys.py runs the builds again in keys mode)."""
    agent_args = ()
    capture = "plaintext"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-go-")
        cls.cert, cls.key = make_cert(cls.tmp)
        cls.agent = Agent("--tls-capture", cls.capture, *cls.agent_args)

    @classmethod
    def tearDownClass(cls):
        code, _, err = cls.agent.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, err
        assert "attached" in err, err

    def attached(self):
        return self.agent.value("l7tap_tls_libraries_attached", library=GO_LIBRARY)

    def wait_attached(self, before, what, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.attached() > before:
                return
            time.sleep(0.02)
        self.fail("%s: no Go binary attached within %ds" % (what, timeout))

    def losses(self):
        return {reason: self.agent.value("l7tap_events_lost_total", reason=reason)
                for reason in ("ringbuf_full", "malformed", "tls_no_connection", "go_conn_unreadable")}

    def noise(self):
        """Counters the encrypted syscall path would raise if it leaked into parsing."""
        return [self.agent.value(n) for n in ("l7tap_connections_not_http_total", "l7tap_http_parse_errors_total",
                                              "l7tap_http_desyncs_total", "l7tap_stream_gaps_total")]

    def client(self, binary, url, n, env=None, **flags):
        argv = [binary, "-url", url, "-n", str(n), "-insecure"]
        argv += ["-%s=%s" % (k, str(v).lower() if isinstance(v, bool) else v) for k, v in flags.items()]
        out = run(argv, timeout=300) if env is None else self.run_env(argv, env)
        self.assertTrue(out.startswith("requests %d" % n), out)
        return out

    def run_env(self, argv, env):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
        if r.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
        return r.stdout

    def counts_at(self, port, expected):
        """What the agent holds at `port` for each (histogram, method, status) of `expected`, and in all (key
        (histogram, None, None)). A server started earlier may have had the same port (the kernel hands out
        port 0 again), so assertions compare against this."""
        out = {}
        for hist in (SERVER_HIST, CLIENT_HIST):
            out[(hist, None, None)] = self.agent.value(hist + "_count", server_port=port)
            for method, status in expected:
                out[(hist, method, status)] = self.agent.value(hist + "_count", server_port=port,
                                                               http_request_method=method,
                                                               http_response_status_code=status)
        return out

    def assert_counts(self, port, expected, base=None):
        """expected: {(method, status): n}. Server and client side each count exactly that at `port`, beyond
        `base` (counts_at before the requests; none: nothing was there)."""
        base = base or {}
        total = sum(expected.values())
        for hist in (SERVER_HIST, CLIENT_HIST):
            want = base.get((hist, None, None), 0) + total
            if self.agent.wait_value(want, hist + "_count", server_port=port) != want:
                print("\n".join("%s %s %s" % s for s in self.agent.scrape()
                                if s[0].startswith("l7tap_") and s[2] and "bucket" not in s[0]))
        for (method, status), n in expected.items():
            for hist in (SERVER_HIST, CLIENT_HIST):
                got = self.agent.value(hist + "_count", server_port=port, http_request_method=method,
                                       http_response_status_code=status) - base.get((hist, method, status), 0)
                self.assertEqual(got, n, "%s %s %d at port %d" % (hist, method, status, port))
        for hist in (SERVER_HIST, CLIENT_HIST):
            got = self.agent.value(hist + "_count", server_port=port) - base.get((hist, None, None), 0)
            self.assertEqual(got, total, "%s: extra transactions at port %d" % (hist, port))


class GoBuildsTest(GoCase):
    """Every toolchain x {default, stripped, pie, stripped-pie}: exact counts over HTTP and HTTPS."""

    def test_every_build(self):
        builds = go_builds()
        self.assertTrue(builds, "no Go fixtures were built (run make deps)")
        if IN_CI and len(builds) < 16 and not os.environ.get("L7TAP_GO_BUILDS"):
            self.fail("only %d of the 16 Go builds (go1.19, 1.21, 1.22, 1.23 x 4 variants) exist in CI: %s; "
                      "make deps fetches the toolchains" % (len(builds), ", ".join(builds)))
        for build in builds:
            with self.subTest(build=build):
                self.check_build(build)

    placement_entry = False

    def check_build(self, build):
        server_bin = os.path.join(GO_DIR, build + "-server")
        client_bin = os.path.join(GO_DIR, build + "-client")
        losses, noise = self.losses(), self.noise()
        before = self.attached()
        server = GoServer(server_bin, self.cert, self.key, self.tmp)
        try:
            self.wait_attached(before, server_bin)
            # The client binary's first run brings it to the agent's attention (see test_first_request below
            # for what a first run sees); requests are counted from the second run on.
            before = self.attached()
            self.client(client_bin, "http://127.0.0.1:%d/" % server.http_port, 0)
            self.wait_attached(before, client_bin)
            for scheme, port in (("https", server.https_port), ("http", server.http_port)):
                url = "%s://127.0.0.1:%d" % (scheme, port)
                expected = {("GET", 200): 15, ("POST", 200): 3, ("GET", 404): 2}
                before_requests = self.counts_at(port, expected)
                self.client(client_bin, url + "/", 10)                       # one keep-alive connection
                self.client(client_bin, url + "/", 5, keepalive=False)      # a connection per request
                self.client(client_bin, url + "/items/7", 3, method="POST")
                self.client(client_bin, url + "/notfound", 2, c=2)
                self.assert_counts(port, expected, before_requests)
            self.assertEqual(self.per_request_hits(client_bin, server.https_port), self.expected_hits(build))
            self.assertTrue(server.alive(), "%s exited" % server_bin)
        finally:
            server.stop()
        self.assertEqual(self.losses(), losses)
        self.assertEqual(self.noise(), noise)

    def hits(self):
        return [self.agent.value("l7tap_probe_hits_total", kind=k) for k in ("emulated", "single_step", "uretprobe")]

    def per_request_hits(self, client_bin, https_port):
        """Uprobe hits one keep-alive HTTPS request costs, client and server together: 20 requests' hits less
        10's, over 10 (connection setup cancels out). Kernel counters: read at once."""
        url = "https://127.0.0.1:%d/" % https_port
        h0 = self.hits()
        self.client(client_bin, url, 10)
        h1 = self.hits()
        self.client(client_bin, url, 20)
        h2 = self.hits()
        return {k: ((c - b) - (b - a)) / 10 for k, a, b, c in zip(("emulated", "single_step", "uretprobe"), h0, h1, h2)}

    def expected_hits(self, build):
        # Per request: the client's Write and Read, the server's Read and Write, and one more Read that a
        # net/http side makes: 5 entry probes, and a RET probe (single-stepped) for each of the 3 Reads. Never
        # a uretprobe. go1.19's Read and Write start with `sub` past their stack check: entry placement
        # single-steps every hit there; optimized placement finds an emulated instruction a few on.
        if build.startswith("go1.19-") and self.placement_entry:
            return {"emulated": 0, "single_step": 8, "uretprobe": 0}
        return {"emulated": 5, "single_step": 3, "uretprobe": 0}


class GoBuildsEntryPlacementTest(GoBuildsTest):
    """The same with --probe-placement=entry: probes right past the stack check (go1.19: a single-stepped sub)."""
    agent_args = ("--probe-placement", "entry")
    placement_entry = True


class GoFirstRequestTest(GoCase):
    """A Go server started after l7tap is traced from its first HTTPS request."""

    def test_first_request(self):
        build = go_builds()[-1]
        # A copy: a file the agent has never seen, as a freshly deployed binary would be.
        server_bin = os.path.join(self.tmp, build + "-fresh-server")
        shutil.copy(os.path.join(GO_DIR, build + "-server"), server_bin)
        server = GoServer(server_bin, self.cert, self.key, self.tmp)
        try:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            url = "https://127.0.0.1:%d/" % server.https_port
            with urllib.request.urlopen(url, context=context, timeout=10) as r:
                self.assertEqual(r.read(), b"hello\n")
            got = self.agent.wait_value(1, SERVER_HIST + "_count", server_port=server.https_port)
            self.assertEqual(got, 1)
        finally:
            server.stop()


class GoStressTest(GoCase):
    """10 000 HTTPS requests from hundreds of goroutines on GOMAXPROCS=2 under GC pressure: goroutines migrate
    between threads and their stacks move; the Go processes never crash and counts stay exact."""

    def test_goroutine_migration(self):
        build = go_builds()[-1]
        env = dict(os.environ, GOMAXPROCS="2", GOGC="5")
        losses = self.losses()
        before = self.attached()
        server = GoServer(os.path.join(GO_DIR, build + "-server"), self.cert, self.key, self.tmp, env=env)
        try:
            client_bin = os.path.join(GO_DIR, build + "-client")
            self.wait_attached(before, build + "-server")
            before = self.attached()
            self.client(client_bin, "http://127.0.0.1:%d/" % server.http_port, 0)
            self.wait_attached(before, client_bin)
            n = 10000
            self.client(client_bin, "https://127.0.0.1:%d/items/1" % server.https_port, n, env=env, c=300,
                        method="POST")
            self.assert_counts(server.https_port, {("POST", 200): n})
            self.assertTrue(server.alive(), "the traced Go server exited")
        finally:
            server.stop()
        self.assertEqual(self.losses(), losses)


class GoSkippedTest(GoCase):
    """A Go binary older than go1.17 is skipped with a counted reason; its plain HTTP is still traced."""

    def test_go_older_than_1_17(self):
        old19 = [b for b in go_builds() if b.startswith("go1.19-default")]
        if not old19:
            missing_dependency("no go1.19 fixture: make deps installs golang-1.19-go")
        # Same bytes, but the build information says go1.16: what a binary from that toolchain reports.
        with open(os.path.join(GO_DIR, old19[0] + "-server"), "rb") as f:
            data = f.read()
        version = re.search(rb"go1\.19(\.\d+)?", data).group(0)
        patched = data.replace(version, b"go1.16" + version[len(b"go1.19"):])
        server_bin = os.path.join(self.tmp, "go1.16-server")
        with open(server_bin, "wb") as f:
            f.write(patched)
        os.chmod(server_bin, 0o755)
        skipped = self.agent.value("l7tap_attach_errors_total", reason="go_too_old")
        attached = self.attached()
        server = GoServer(server_bin, self.cert, self.key, self.tmp)
        try:
            got = self.agent.wait_value(skipped + 1, "l7tap_attach_errors_total", reason="go_too_old")
            self.assertEqual(got, skipped + 1)
            self.assertEqual(self.attached(), attached)
            with urllib.request.urlopen("http://127.0.0.1:%d/" % server.http_port, timeout=10) as r:
                self.assertEqual(r.read(), b"hello\n")
            self.assertEqual(self.agent.wait_value(1, SERVER_HIST + "_count", server_port=server.http_port), 1)
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
