"""End to end, as root: HTTPS through OpenSSL, traced from the TLS library; counts must be exact and the
encrypted syscall path must contribute nothing."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from l7tap_harness import (Agent, Nginx, Server, AGENT, FIXTURES, SOURCE_FIXTURES, fixture, free_port, make_cert,
                           run)

SERVER_HIST = "http_server_request_duration_seconds"
CLIENT_HIST = "http_client_request_duration_seconds"


class TlsCase(unittest.TestCase):
    """One agent per class; a certificate in a temp dir. `capture`: --tls-capture (this suite tests the plaintext
    probes; test_tls_keys.py runs it again in keys mode)."""
    agent_args = ()
    capture = "plaintext"
    attached_binaries = set()  # executables whose own OpenSSL this class's agent has attached

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-tls-")
        cls.cert, cls.key = make_cert(cls.tmp)
        cls.agent = Agent("--tls-capture", cls.capture, *cls.agent_args_for(cls.tmp))
        cls.attached_binaries = set()

    @classmethod
    def agent_args_for(cls, tmp):
        return cls.agent_args

    @classmethod
    def tearDownClass(cls):
        code, _, err = cls.agent.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, err

    def noise(self):
        """Counters the encrypted syscall path would raise if it leaked into parsing."""
        return self.agent.loss_counters()

    def wait_attached(self, binary, before, timeout=20):
        """A binary carrying its own OpenSSL is attached when first exec'd: waits for that the first time."""
        if binary in self.attached_binaries:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.agent.value("l7tap_tls_libraries_attached") > before:
                self.attached_binaries.add(binary)
                return
            time.sleep(0.05)
        self.fail("%s: no TLS library attached within %ds" % (binary, timeout))

    def assert_exact(self, port, n, server_service, client_service, status=200):
        """Server and client side both count n at this port, and nothing else was recorded for it."""
        server = self.agent.wait_value(n, SERVER_HIST + "_count", server_port=port, service_name=server_service,
                                       http_response_status_code=status)
        client = self.agent.wait_value(n, CLIENT_HIST + "_count", server_port=port, service_name=client_service,
                                       http_response_status_code=status)
        self.assertEqual((server, client), (n, n), "server-side, client-side")
        self.assertEqual(self.agent.value(SERVER_HIST + "_count", server_port=port), n, "extra server transactions")
        self.assertEqual(self.agent.value(CLIENT_HIST + "_count", server_port=port), n, "extra client transactions")


class FixtureTlsTest(TlsCase):
    """The C++ OpenSSL fixtures: dynamic libssl, static OpenSSL, both API flavours. Probe placement is optimized:
    OpenSSL's read and write workers and SSL_do_handshake start with push, so no hit is single-stepped."""
    single_steps = False

    def pair(self, server_binary, client_binary, api, warm_client=False):
        noise = self.noise()
        port = free_port()
        attached = self.agent.value("l7tap_tls_libraries_attached")
        server = Server([fixture(server_binary), "--port", str(port), "--tls", "--cert", self.cert, "--key", self.key,
                         "--api", api], port)
        try:
            if server_binary.endswith("static"):
                self.wait_attached(server_binary, attached)  # exec'd after l7tap: its own OpenSSL gets attached
            if warm_client and client_binary not in self.attached_binaries:
                # A client carrying its own OpenSSL is attached when first exec'd, which may be after its first
                # request: this run (a usage error, exits at once) only brings the binary in.
                attached = self.agent.value("l7tap_tls_libraries_attached")
                subprocess.run([fixture(client_binary), "--version"], capture_output=True, timeout=10)
                self.wait_attached(client_binary, attached)
            common = [fixture(client_binary), "--port", str(port), "--tls", "--api", api, "--expect-status", "200"]
            run(common + ["--mode", "keepalive", "--count", "20"])
            run(common + ["--mode", "oneshot", "--count", "6"])
            run(common + ["--mode", "pipeline", "--count", "5", "--path", "/items/3"])
            run(common + ["--mode", "keepalive", "--count", "2", "--method", "POST", "--path", "/upload",
                          "--body-bytes", str(1 << 20)])
            self.assert_exact(port, 33, server_binary[:15], client_binary[:15])  # comm is cut at 15 chars
            self.assertEqual(self.per_request_hits(common), self.expected_hits_per_request())
        finally:
            server.stop()
        self.assertEqual(self.noise(), noise)

    def hits(self):
        return [self.agent.value("l7tap_probe_hits_total", kind=k) for k in ("emulated", "single_step", "uretprobe")]

    def per_request_hits(self, client):
        """Uprobe hits one keep-alive request costs, both sides together: 20 requests' hits less 10's, over 10
        (connection setup cancels out). The counters are the kernel's own: read at once, no events to wait for."""
        h0 = self.hits()
        run(client + ["--mode", "keepalive", "--count", "10"])
        h1 = self.hits()
        run(client + ["--mode", "keepalive", "--count", "20"])
        h2 = self.hits()
        return {k: ((c - b) - (b - a)) / 10 for k, a, b, c in zip(("emulated", "single_step", "uretprobe"), h0, h1, h2)}

    def expected_hits_per_request(self):
        # Client SSL_write and SSL_read, server SSL_read and SSL_write: one entry probe and one uretprobe each.
        entries = {"emulated": 0, "single_step": 4} if self.single_steps else {"emulated": 4, "single_step": 0}
        return dict(entries, uretprobe=4)

    def test_dynamic_libssl(self):
        self.pair("http_server", "http_client", "plain")

    def test_dynamic_libssl_ex_api(self):
        self.pair("http_server", "http_client", "ex")

    def test_static_openssl(self):
        self.pair("http_server_static", "http_client_static", "plain", warm_client=True)

    def test_static_openssl_ex_api(self):
        self.pair("http_server_static", "http_client_static", "ex", warm_client=True)

    def test_library_without_ssl_symbols_is_skipped_and_counted(self):
        # A file named like libssl that has no SSL functions (here: a copy of libz), mapped by a process.
        before = self.agent.value("l7tap_attach_errors_total", reason="no_symbols")
        fake = os.path.join(self.tmp, "libssl.so.99")
        shutil.copy("/usr/lib/x86_64-linux-gnu/libz.so.1", fake)
        proc = subprocess.Popen(["python3", "-c", "import ctypes, sys, time; ctypes.CDLL(sys.argv[1]); time.sleep(30)",
                                 fake])
        try:
            self.assertEqual(self.agent.wait_value(before + 1, "l7tap_attach_errors_total", reason="no_symbols"),
                             before + 1)
            self.assertIsNone(self.agent.proc.poll(), "l7tap died")
        finally:
            proc.kill()
            proc.wait()


class FixtureTlsEntryPlacementTest(FixtureTlsTest):
    """The same exact counts with --probe-placement=entry (SSL_read and SSL_write start with sub: single-stepped)."""
    agent_args = ("--probe-placement", "entry")
    single_steps = True


class StrippedStaticTest(TlsCase):
    """A stripped static binary, traced through the address table derived from its unstripped twin."""

    @classmethod
    def agent_args_for(cls, tmp):
        table = os.path.join(tmp, "symbols.table")
        with open(table, "w") as f:
            f.write(run([AGENT, "symbols", "--table", fixture("http_server_static")]))
        return ("--symbol-table", table)

    def test_stripped_server_via_table(self):
        port = free_port()
        attached = self.agent.value("l7tap_tls_libraries_attached")
        server = Server([fixture("http_server_static_stripped"), "--port", str(port), "--tls", "--cert", self.cert,
                         "--key", self.key], port)
        try:
            self.wait_attached("http_server_static_stripped", attached)
            for mode, n in (("keepalive", 10), ("oneshot", 4)):
                run([fixture("http_client"), "--port", str(port), "--tls", "--mode", mode, "--count", str(n),
                     "--expect-status", "200"])
            self.assertEqual(self.agent.wait_value(14, SERVER_HIST + "_count", server_port=port,
                                                   service_name="http_server_sta"), 14)
            self.assertEqual(self.agent.value(CLIENT_HIST + "_count", server_port=port), 14)
            self.assertEqual(self.agent.value("l7tap_tls_libraries_attached", library="OpenSSL"), attached + 1)
        finally:
            server.stop()


class ThirdPartyTlsTest(TlsCase):
    """curl -k against Debian's nginx and against python3's http.server in ssl."""

    def test_curl_to_nginx(self):
        nginx = Nginx({"index.html": b"<p>hello</p>\n", "big.bin": bytes(range(256)) * 800},
                      tls=(self.cert, self.key))
        noise = self.noise()
        try:
            base = "https://127.0.0.1:%d/" % nginx.port
            for _ in range(5):
                run(["curl", "-skf", "-o", "/dev/null", base])
            run(["curl", "-skf"] + ["-o/dev/null"] * 4 + [base, base + "big.bin", base, base + "big.bin"])
            self.assert_exact(nginx.port, 9, "nginx", "curl")
        finally:
            nginx.stop()
        self.assertEqual(self.noise(), noise)

    def test_curl_to_python_ssl_server(self):
        root = tempfile.mkdtemp(prefix="l7tap-www-")
        port = free_port()
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<p>hello</p>\n")
        server = Server(["python3", os.path.join(SOURCE_FIXTURES, "python_https_server.py"), str(port), self.cert,
                         self.key, root], port)
        noise = self.noise()
        try:
            for _ in range(6):
                run(["curl", "-skf", "-o", "/dev/null", "https://127.0.0.1:%d/index.html" % port])
            server_count = self.agent.wait_value(6, SERVER_HIST + "_count", server_port=port)
            client_count = self.agent.wait_value(6, CLIENT_HIST + "_count", server_port=port, service_name="curl")
            self.assertEqual((server_count, client_count), (6, 6))
        finally:
            server.stop()
            shutil.rmtree(root)
        self.assertEqual(self.noise(), noise)


if __name__ == "__main__":
    unittest.main(verbosity=2)
