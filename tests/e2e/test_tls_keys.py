"""End to end, as root: HTTPS in keys mode (--tls-capture keys). Each handshake's secrets come from one uprobe
on the TLS library's key-log function (OpenSSL, Go) or from a key-log file; the agent decrypts the ciphertext
the syscall probes copy. Counts must be exact on both sides, and a request costs no uprobe hit at all."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from l7tap_harness import (Agent, Nginx, Server, SOURCE_FIXTURES, fixture, free_port, run, stop_process, wait_port)
import test_go
import test_tls

SERVER_HIST = "http_server_request_duration_seconds"
CLIENT_HIST = "http_client_request_duration_seconds"
KEYS = ("--tls-capture", "keys")


class KeysMode:
    """Mixed into the plaintext-mode suites: the same traffic and exact counts with keys mode, and no uprobe hit
    per request (the key-log hooks fire per handshake only)."""
    capture = "keys"

    def expected_hits_per_request(self):
        return {"emulated": 0, "single_step": 0, "uretprobe": 0}

    def expected_hits(self, build):
        return self.expected_hits_per_request()


class FixtureTlsKeysTest(KeysMode, test_tls.FixtureTlsTest):
    """The C++ OpenSSL fixtures (dynamic libssl, static OpenSSL, both APIs), 1 MiB bodies included."""

    def test_library_without_ssl_symbols_is_skipped_and_counted(self):
        pass  # the plaintext suite covers it: keys mode inspects libraries the same way first


class StrippedStaticKeysTest(test_tls.TlsCase):
    """A stripped static binary without any address table: keys mode finds OpenSSL's key-log function from the
    code that passes the NSS labels, so it needs no symbols at all."""
    capture = "keys"

    def test_stripped_server_without_table(self):
        port = free_port()
        attached = self.agent.value("l7tap_tls_libraries_attached")
        server = Server([fixture("http_server_static_stripped"), "--port", str(port), "--tls", "--cert", self.cert,
                         "--key", self.key], port)
        try:
            self.wait_attached("http_server_static_stripped", attached)
            self.assertEqual(self.agent.value("l7tap_tls_libraries_attached", library="OpenSSL", capture="keys"),
                             attached + 1)
            for mode, n in (("keepalive", 10), ("oneshot", 4)):
                run([fixture("http_client"), "--port", str(port), "--tls", "--mode", mode, "--count", str(n),
                     "--expect-status", "200"])
            self.assert_exact(port, 14, "http_server_sta", "http_client")
        finally:
            server.stop()


class ThirdPartyTlsKeysTest(KeysMode, test_tls.ThirdPartyTlsTest):
    """curl against nginx and python's http.server in ssl, in keys mode."""


class MemoryBioTest(test_tls.TlsCase):
    """TLS done on memory BIOs, invisible to plaintext probes (no syscall inside SSL_read/SSL_write): Node.js's
    https server (its own OpenSSL, key-log function inlined: secrets paired by their SSL object) and Python's
    asyncio (ssl.MemoryBIO over Debian's libssl)."""
    capture = "keys"

    def curl_all(self, port, n, service_name, big=False):
        urls = ["https://127.0.0.1:%d/r%d" % (port, i) for i in range(n)]
        if big:
            urls.append("https://127.0.0.1:%d/big?size=%d" % (port, 1 << 20))
        # One keep-alive connection for all of them, then one connection per request.
        run(["curl", "-skf", "--http1.1"] + sum((["-o", "/dev/null", u] for u in urls), []))
        for u in urls[:3]:
            run(["curl", "-skf", "--http1.1", "-o", "/dev/null", u])
        total = len(urls) + 3
        self.assert_exact(port, total, service_name, "curl")

    def test_node_https_server(self):
        port = free_port()
        noise = self.noise()
        server = Server(["node", os.path.join(SOURCE_FIXTURES, "node_https_server.js"), str(port), self.cert,
                         self.key], port)
        try:
            self.curl_all(port, 8, "node", big=True)
        finally:
            server.stop()
        self.assertEqual(self.noise(), noise)

    def test_python_asyncio_https_server(self):
        port = free_port()
        noise = self.noise()
        server = Server(["/usr/bin/python3", os.path.join(SOURCE_FIXTURES, "python_asyncio_https_server.py"),
                         str(port), self.cert, self.key], port)
        try:
            self.curl_all(port, 8, "python3", big=True)
        finally:
            server.stop()
        self.assertEqual(self.noise(), noise)


class CipherSuiteTest(test_tls.TlsCase):
    """Every supported suite, TLS 1.3 and 1.2, curl against nginx (ECDSA certificate); CBC is counted as
    untraced, never guessed; KeyUpdate and session resumption keep every request."""
    capture = "keys"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nginx = Nginx({"index.html": b"<p>hello</p>\n", "big.bin": bytes(range(256)) * 4096},
                          tls=(cls.cert, cls.key), server_extra="ssl_protocols TLSv1.2 TLSv1.3; "
                          "ssl_ciphers ALL; ssl_session_cache shared:l7tap:1m; ssl_session_tickets on;")

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        super().tearDownClass()

    def counts(self):
        return (self.agent.value(SERVER_HIST + "_count", server_port=self.nginx.port),
                self.agent.value(CLIENT_HIST + "_count", server_port=self.nginx.port))

    def wait_counts(self, server, client):
        got = (self.agent.wait_value(server, SERVER_HIST + "_count", server_port=self.nginx.port),
               self.agent.wait_value(client, CLIENT_HIST + "_count", server_port=self.nginx.port))
        self.assertEqual(got, (server, client), "server-side, client-side")

    def curl(self, *flags, paths=("/", "/big.bin", "/")):
        base = "https://127.0.0.1:%d" % self.nginx.port
        run(["curl", "-skf", "--http1.1", *flags] + sum((["-o", "/dev/null", base + p] for p in paths), []))

    def test_each_suite(self):
        suites = [("--tlsv1.3", "--tls13-ciphers", "TLS_AES_128_GCM_SHA256"),
                  ("--tlsv1.3", "--tls13-ciphers", "TLS_AES_256_GCM_SHA384"),
                  ("--tlsv1.3", "--tls13-ciphers", "TLS_CHACHA20_POLY1305_SHA256"),
                  ("--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"),
                  ("--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"),
                  ("--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305")]
        for flags in suites:
            with self.subTest(suite=flags[-1]):
                noise = self.noise()
                server, client = self.counts()
                self.curl(*flags)
                self.wait_counts(server + 3, client + 3)
                self.assertEqual(self.noise(), noise)

    def test_cbc_is_counted_untraced(self):
        untraced = self.agent.value("l7tap_tls_connections_untraced_total", reason="unsupported_cipher")
        server, client = self.counts()
        self.curl("--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-SHA", paths=("/",))
        # Both ends of the one connection: nginx's and curl's.
        self.assertEqual(self.agent.wait_value(untraced + 2, "l7tap_tls_connections_untraced_total",
                                               reason="unsupported_cipher"), untraced + 2)
        self.assertEqual(self.counts(), (server, client))

    def test_resumption(self):
        # curl resumes its first connection's session on the next ones (one process): a ticket (TLS 1.3) or a
        # session id (TLS 1.2) instead of a full handshake.
        for flags in (("--tlsv1.3",), ("--tls-max", "1.2")):
            with self.subTest(flags=flags):
                server, client = self.counts()
                self.curl(*flags, "-H", "Connection: close", paths=("/", "/", "/", "/"))
                self.wait_counts(server + 4, client + 4)

    def test_key_update(self):
        """openssl s_client sends a KeyUpdate ("k") between two requests on one connection."""
        server, client = self.counts()
        # Interactive (neither -quiet nor -ign_eof): a line "k" is a command, not sent.
        proc = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.nginx.port, "-tls1_3"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
        try:
            proc.stdin.write(request)
            proc.stdin.flush()
            time.sleep(0.5)
            proc.stdin.write(b"k\n")
            proc.stdin.flush()
            time.sleep(0.5)
            proc.stdin.write(request)
            proc.stdin.flush()
            time.sleep(0.5)
        finally:
            proc.stdin.close()
            stop_process(proc)
            proc.stdout.close()
        self.wait_counts(server + 2, client + 2)
        self.assertGreaterEqual(self.agent.value("l7tap_tls_key_updates_total"), 1)


class KeyLogFileTest(unittest.TestCase):
    """--tls-keylog: secrets from an NSS key-log file that curl writes (SSLKEYLOGFILE) while the agent runs; no
    uprobe at all (--tls-probes off). Key material never reaches the agent's output."""

    def test_keylog_file(self):
        tmp = tempfile.mkdtemp(prefix="l7tap-keylog-")
        keylog = os.path.join(tmp, "keys.log")  # does not exist yet: the agent waits for it
        agent = Agent("--tls-capture", "keys", "--tls-probes", "off", "--tls-keylog", keylog)
        cert, key = test_tls.make_cert(tmp)
        nginx = Nginx({"index.html": b"<p>hello</p>\n"}, tls=(cert, key))
        try:
            env = dict(os.environ, SSLKEYLOGFILE=keylog)
            base = "https://127.0.0.1:%d/" % nginx.port
            subprocess.run(["curl", "-skf", "--http1.1"] + ["-o/dev/null", base] * 4, env=env, check=True,
                           capture_output=True, timeout=30)
            subprocess.run(["curl", "-skf", "--http1.1", "--tls-max", "1.2", "-o/dev/null", base], env=env,
                           check=True, capture_output=True, timeout=30)
            got = (agent.wait_value(5, SERVER_HIST + "_count", server_port=nginx.port),
                   agent.wait_value(5, CLIENT_HIST + "_count", server_port=nginx.port))
            self.assertEqual(got, (5, 5))
            self.assertEqual(agent.value("l7tap_tls_probes_attached"), 0)
        finally:
            nginx.stop()
            code, out, err = agent.stop()
            with open(keylog) as f:
                secrets = [line.split()[2] for line in f if line.strip() and not line.startswith("#")]
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(code, 0, err)
        self.assertTrue(secrets)
        for s in secrets:
            self.assertNotIn(s.lower(), (out + err).lower())


class PreExistingConnectionTest(test_tls.TlsCase):
    """A keep-alive HTTPS connection opened before the agent started has no handshake to see: its requests are
    not guessed, the connection is counted under its reason on both sides."""
    capture = "keys"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-tls-")
        cls.cert, cls.key = test_tls.make_cert(cls.tmp)
        cls.port = free_port()
        cls.server = Server(["/usr/bin/python3", os.path.join(SOURCE_FIXTURES, "python_asyncio_https_server.py"),
                             str(cls.port), cls.cert, cls.key], cls.port)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        cls.conn = context.wrap_socket(socket.create_connection(("127.0.0.1", cls.port)))
        cls.request()
        cls.agent = Agent(*KEYS)
        cls.attached_binaries = set()

    @classmethod
    def request(cls):
        cls.conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"a" * 13):
            data += cls.conn.recv(4096)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.server.stop()
        super().tearDownClass()

    def test_counted_not_guessed(self):
        for _ in range(3):
            self.request()
        reason = "handshake_not_seen"
        self.assertEqual(self.agent.wait_value(2, "l7tap_tls_connections_untraced_total", reason=reason), 2)
        self.assertEqual(self.agent.value(SERVER_HIST + "_count", server_port=self.port), 0)
        self.assertEqual(self.agent.value(CLIENT_HIST + "_count", server_port=self.port), 0)


class GoBuildsKeysTest(KeysMode, test_go.GoBuildsTest):
    """Every Go toolchain and build mode in keys mode: writeKeyLog (found by pclntab, stripped binaries too) is
    the only probe; no struct offsets are read."""


if __name__ == "__main__":
    unittest.main(verbosity=2)
