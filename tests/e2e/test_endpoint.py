"""End to end, as root: the agent's HTTP endpoint. /metrics over IPv4, IPv6 and a unix socket, /healthz, /debug
with a traced file, TLS with a generated certificate, client certificates, basic auth, a bad --web-config, and
malformed requests that the endpoint outlives. Spoken to with curl (and raw sockets for the garbage)."""
import ctypes
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

from l7tap_harness import AGENT, Server, fixture, free_port, make_cert, parse_metrics, run

CURL_TIMEOUT = 10


def curl(*args):
    """(exit code, HTTP status, body) of one curl run; status 0 when no response came. Text: CRLF reads as LF."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(CURL_TIMEOUT), "-o", "-", "-w", "\n%{http_code}", *args],
                       capture_output=True, text=True, timeout=CURL_TIMEOUT + 5)
    body, _, status = r.stdout.rpartition("\n")
    return r.returncode, int(status or 0), body


def openssl(*args):
    run(["openssl", *args])


def bcrypt(password):
    """A bcrypt hash made by libxcrypt (cost 5: a fast test, a real hash)."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2y$", 5, None, 0)
    return lib.crypt(password.encode(), salt).decode()


class EndpointAgent:
    """An l7tap process with the given --listen (and more flags); stderr in a file."""

    def __init__(self, listen, *extra):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([AGENT, "--listen", listen, *extra], stdout=subprocess.DEVNULL,
                                     stderr=self.err, text=True)

    def wait(self, predicate, what, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("l7tap exited (%d): %s" % (self.proc.returncode, self.stderr()))
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError("%s within %ds; stderr: %s" % (what, timeout, self.stderr()))

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def stop(self):
        """SIGTERM; (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        text = self.stderr()
        self.err.close()
        return self.proc.returncode, text


def raw(port, data, read=True):
    """Sends bytes on a fresh TCP connection to 127.0.0.1:port; what came back (until close or 5 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        if not read:
            return out
        for _ in range(1000):
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out


class DualStackTest(unittest.TestCase):
    """The default form, :PORT: one socket for IPv6 and IPv4."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-endpoint-")
        cls.port = free_port()
        cls.agent = EndpointAgent(":%d" % cls.port)
        cls.agent.wait(lambda: curl("http://127.0.0.1:%d/healthz" % cls.port)[1] == 200, "/healthz 200")

    @classmethod
    def tearDownClass(cls):
        code, err = cls.agent.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, err

    def test_metrics_over_ipv4_and_ipv6(self):
        for url in ("http://127.0.0.1:%d/metrics" % self.port, "http://[::1]:%d/metrics" % self.port):
            code, status, body = curl("-g", "-D", "-", url)
            self.assertEqual((code, status), (0, 200), url)
            self.assertIn("\nContent-Type: text/plain; version=0.0.4; charset=utf-8\n", body)
            samples = parse_metrics(body.split("\n\n", 1)[1])
            self.assertIn(("l7tap_ready", {}, 1.0), samples)
        banner = "/metrics, /healthz and /debug on [::]:%d (IPv6 and IPv4)" % self.port
        self.agent.wait(lambda: banner in self.agent.stderr(), "the start line", timeout=10)

    def test_healthz_is_ok_once_ready(self):
        self.assertEqual(curl("http://127.0.0.1:%d/healthz" % self.port)[1:], (200, "ok\n"))
        self.assertEqual(curl("-g", "http://[::1]:%d/healthz" % self.port)[1:], (200, "ok\n"))

    def test_other_paths_and_methods(self):
        self.assertEqual(curl("http://127.0.0.1:%d/" % self.port)[1], 404)
        self.assertEqual(curl("http://127.0.0.1:%d/metricsx" % self.port)[1], 404)
        self.assertEqual(curl("-X", "POST", "-d", "x", "http://127.0.0.1:%d/metrics" % self.port)[1], 405)

    def test_debug_lists_tables_and_an_attached_file(self):
        cert, key = make_cert(self.tmp)
        port = free_port()
        server_binary = fixture("http_server_static")  # carries its own OpenSSL: attached as an executable
        server = Server([server_binary, "--port", str(port), "--tls", "--cert", cert, "--key", key], port)
        try:
            run([fixture("http_client"), "--port", str(port), "--tls", "--mode", "keepalive", "--count", "3",
                 "--expect-status", "200"])
            page = {}

            def listed():
                page["text"] = curl("http://127.0.0.1:%d/debug" % self.port)[2]
                return os.path.realpath(server_binary) in page["text"]

            self.agent.wait(listed, "/debug lists " + server_binary, timeout=30)
        finally:
            server.stop()
        text = page["text"]
        line = next(l for l in text.splitlines() if os.path.realpath(server_binary) in l)
        self.assertIn("kind=executable", line)
        self.assertRegex(line, r"mode=(keys|plaintext)")
        self.assertIn("\ntables (entries/capacity, evictions by reason)\n", text)
        self.assertRegex(text, r"\n  connections  \d+/65536 full=\d+ idle=\d+ process_gone=\d+\n")
        self.assertRegex(text, r"\n  programs attached [1-9]\d*\n")
        self.assertIn("\nloss by reason\n  l7tap_events_lost_total{reason=ringbuf_full} ", text)
        self.assertNotIn("GET /", text)  # no request targets

    def test_survives_malformed_requests(self):
        # A TLS ClientHello's first bytes and every byte value: closed, or answered 400.
        garbage = raw(self.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n")
        self.assertTrue(garbage == b"" or garbage.startswith(b"HTTP/1.1 400"), garbage[:100])
        self.assertTrue(raw(self.port, b"GET /metrics HTTP/9.9 extra\r\n\r\n").startswith(b"HTTP/1.1 4"))
        self.assertTrue(raw(self.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 65536 + b"\r\n\r\n")
                        .startswith(b"HTTP/1.1 4"))  # headers past the connection's memory limit
        raw(self.port, b"GET /met", read=False)  # half a request, then gone
        raw(self.port, b"", read=False)
        self.assertIsNone(self.agent.proc.poll(), "l7tap died")
        self.assertEqual(curl("http://127.0.0.1:%d/metrics" % self.port)[1], 200)


class UnixSocketTest(unittest.TestCase):
    def test_metrics_over_a_unix_socket(self):
        tmp = tempfile.mkdtemp(prefix="l7tap-endpoint-")
        path = os.path.join(tmp, "run", "metrics.sock")  # its directory is created
        try:
            agent = EndpointAgent("unix:" + path)
            try:
                agent.wait(lambda: os.path.exists(path), "the socket file")
                st = os.stat(path)
                self.assertTrue(stat.S_ISSOCK(st.st_mode))
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
                code, status, body = curl("--unix-socket", path, "http://l7tap/metrics")
                self.assertEqual((code, status), (0, 200))
                self.assertIn("# TYPE l7tap_ready gauge", body)
            finally:
                code, err = agent.stop()
            self.assertEqual(code, 0, err)
            self.assertFalse(os.path.exists(path), "the socket file is left behind")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class TlsAndAuthTest(unittest.TestCase):
    """TLS with a generated certificate, client certificates required and verified, and basic auth."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-endpoint-")
        t = lambda name: os.path.join(cls.tmp, name)
        cls.t = t
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-batch"]
        openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=l7tap test CA", "-keyout", t("ca.key"),
                "-out", t("ca.crt"))
        openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=localhost", "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", t("server.key"), "-out", t("server.crt"))
        openssl("req", *ec, "-subj", "/CN=prometheus", "-keyout", t("client.key"), "-out", t("client.csr"))
        openssl("x509", "-req", "-in", t("client.csr"), "-CA", t("ca.crt"), "-CAkey", t("ca.key"),
                "-CAcreateserial", "-days", "2", "-out", t("client.crt"))
        openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=rogue", "-keyout", t("rogue.key"),
                "-out", t("rogue.crt"))
        with open(t("web.yml"), "w") as f:
            f.write("tls_server_config:\n"
                    "  cert_file: server.crt\n"  # relative: to the file's directory
                    "  key_file: server.key\n"
                    "  client_auth_type: RequireAndVerifyClientCert\n"
                    "  client_ca_file: ca.crt\n"
                    "basic_auth_users:\n"
                    "  prometheus: '%s'\n"
                    "http_server_config:\n"
                    "  headers:\n"
                    "    X-Content-Type-Options: nosniff\n" % bcrypt("scrape-secret"))
        cls.port = free_port()
        cls.url = "https://127.0.0.1:%d/metrics" % cls.port
        cls.agent = EndpointAgent("127.0.0.1:%d" % cls.port, "--web-config", t("web.yml"))
        # The endpoint serves from before the probes are loaded: no need to wait for them.
        cls.agent.wait(lambda: cls.get("--user", "prometheus:scrape-secret")[1] == 200, "a TLS scrape")

    @classmethod
    def tearDownClass(cls):
        code, err = cls.agent.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, err

    @classmethod
    def get(cls, *args, cert="client"):
        client = ["--cert", cls.t(cert + ".crt"), "--key", cls.t(cert + ".key")] if cert else []
        return curl("--cacert", cls.t("server.crt"), *client, *args, cls.url)

    def test_verified_client_and_password(self):
        code, status, body = self.get("-D", "-", "--user", "prometheus:scrape-secret")
        self.assertEqual((code, status), (0, 200))
        self.assertIn("\nX-Content-Type-Options: nosniff\n", body)
        self.assertIn("# TYPE l7tap_ready gauge", body)
        # TLS 1.2 as well as 1.3.
        self.assertEqual(self.get("--tls-max", "1.2", "--user", "prometheus:scrape-secret")[:2], (0, 200))

    def test_client_certificate_is_required(self):
        for cert in (None, "rogue"):  # none, or one the client CA did not sign: the handshake fails
            code, status, _ = self.get("--user", "prometheus:scrape-secret", cert=cert)
            self.assertNotEqual(code, 0, cert)
            self.assertEqual(status, 0, cert)
            code, status, _ = self.get("--tls-max", "1.2", "--user", "prometheus:scrape-secret", cert=cert)
            self.assertEqual((code != 0, status), (True, 0), cert)
        # Plain HTTP on the TLS port gets nothing.
        self.assertEqual(curl("http://127.0.0.1:%d/metrics" % self.port)[1], 0)
        self.assertIsNone(self.agent.proc.poll(), "l7tap died")

    def test_basic_auth(self):
        code, status, body = self.get("-D", "-")
        self.assertEqual((code, status), (0, 401))
        self.assertIn('WWW-Authenticate: Basic realm="l7tap"', body)
        self.assertNotIn("l7tap_ready", body)
        self.assertEqual(self.get("--user", "prometheus:wrong")[1], 401)
        self.assertEqual(self.get("--user", "nobody:scrape-secret")[1], 401)
        self.assertEqual(self.get("--user", "prometheus:scrape-secret")[1], 200)


class BadStartTest(unittest.TestCase):
    def test_unknown_web_config_key_exits_1_naming_it(self):
        tmp = tempfile.mkdtemp(prefix="l7tap-endpoint-")
        try:
            path = os.path.join(tmp, "web.yml")
            with open(path, "w") as f:
                f.write("tls_server_config:\n  cert_file: server.crt\n  client_auth: RequireAndVerifyClientCert\n")
            r = subprocess.run([AGENT, "--listen", "127.0.0.1:%d" % free_port(), "--web-config", path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(r.stderr.strip().splitlines()[-1],
                             "l7tap: --web-config %s: tls_server_config.client_auth (line 3): unknown key (known here: "
                             "cert_file, key_file, cert, key, client_auth_type, client_ca_file, client_ca, "
                             "min_version, max_version, prefer_server_cipher_suites); remove or fix it" % path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_address_in_use_exits_1_naming_the_flag(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            taken = "127.0.0.1:%d" % s.getsockname()[1]
            r = subprocess.run([AGENT, "--listen", taken], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "l7tap: --listen %s: address already in use: stop what listens there or choose another "
                         "port with --listen" % taken)

    def test_bad_listen_form_exits_2(self):
        r = subprocess.run([AGENT, "--listen", "localhost:9464"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--listen: localhost:9464: \"localhost\" is not an IP address", r.stderr)


if __name__ == "__main__":
    unittest.main()
