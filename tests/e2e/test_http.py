"""End to end, as root: the real agent traces real servers and clients; counts must be exact."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from l7tap_harness import Agent, Nginx, Server, AGENT, fixture, free_port, run

SERVER_HIST = "http_server_request_duration_seconds"
CLIENT_HIST = "http_client_request_duration_seconds"


class FixturePairTest(unittest.TestCase):
    """The C++ fixture server and client, both traced."""

    @classmethod
    def setUpClass(cls):
        cls.agent = Agent("--syscall-probes=tracepoint")

    @classmethod
    def tearDownClass(cls):
        code, _, err = cls.agent.stop()
        assert code == 0, "l7tap did not exit cleanly on SIGTERM: %s" % err

    def setUp(self):
        self.port = free_port()
        self.server = Server([fixture("http_server"), "--port", str(self.port)], self.port)

    def tearDown(self):
        self.server.stop()

    def client(self, mode, count, method="GET", path="/", status=None, body=0):
        argv = [fixture("http_client"), "--port", str(self.port), "--mode", mode, "--count", str(count),
                "--method", method, "--path", path]
        if status is not None:
            argv += ["--expect-status", str(status)]
        if body:
            argv += ["--body-bytes", str(body)]
        out = run(argv)
        if mode not in ("garbage", "abort"):
            self.assertEqual(out.split(), ["ok", str(count)])

    def assert_both_sides(self, expected, method="GET", status=200, route="/"):
        labels = dict(server_port=self.port, http_request_method=method, http_response_status_code=status,
                      http_route=route)
        server = self.agent.wait_value(expected, SERVER_HIST + "_count", service_name="http_server", **labels)
        client = self.agent.wait_value(expected, CLIENT_HIST + "_count", service_name="http_client",
                                       server_address="127.0.0.1", **labels)
        self.assertEqual((server, client), (expected, expected), "server-side, client-side counts")

    def test_keepalive(self):
        self.client("keepalive", 25, status=200)
        self.assert_both_sides(25)

    def test_every_syscall_probe_is_attached(self):
        # Links, not programs: 16 syscalls' enter and exit tracepoints, close, process exec and exit; the fd
        # lifecycle's dup, dup2, dup3, fcntl, execve, execveat, splice enter and exit, close_range's enter and
        # io_uring's submissions; mmap's entry (holding new processes: executable mappings).
        self.assertEqual(self.agent.value("l7tap_probes_attached"), 52)

    def test_one_shot_connections(self):
        self.client("oneshot", 15, status=200)
        self.assert_both_sides(15)

    def test_pipelined_batch(self):
        self.client("pipeline", 12, path="/items/7", status=200)
        self.assert_both_sides(12, route="/items/{id}")

    def test_methods_and_statuses(self):
        self.client("keepalive", 3, path="/notfound", status=404)
        self.client("oneshot", 2, path="/error", status=500)
        self.client("keepalive", 4, method="HEAD", status=200)
        self.client("keepalive", 5, path="/chunked", status=200)
        self.assert_both_sides(3, status=404, route="/notfound")
        self.assert_both_sides(2, status=500, route="/error")
        self.assert_both_sides(4, method="HEAD")
        self.assert_both_sides(5, route="/chunked")

    def test_post_body_bigger_than_copy_cap(self):
        self.client("keepalive", 3, method="POST", path="/upload", body=1 << 20, status=200)
        self.assert_both_sides(3, method="POST", route="/upload")

    def test_big_response(self):
        self.client("keepalive", 4, path="/big", status=200)
        self.assert_both_sides(4, route="/big")

    def test_slow_endpoint_lands_in_its_bucket(self):
        self.client("keepalive", 3, path="/slow", status=200)
        self.assert_both_sides(3, route="/slow")
        for hist, service in ((SERVER_HIST, "http_server"), (CLIENT_HIST, "http_client")):
            labels = dict(server_port=self.port, service_name=service, http_route="/slow")
            self.assertEqual(self.agent.value(hist + "_bucket", le=0.025, **labels), 0, hist)
            self.assertEqual(self.agent.value(hist + "_bucket", le=0.05, **labels), 0, hist)
            self.assertEqual(self.agent.value(hist + "_bucket", le=0.1, **labels), 3, hist)

    def test_garbage_and_abrupt_close_are_counted_not_fatal(self):
        not_http = self.agent.value("l7tap_connections_not_http_total")
        incomplete = self.agent.value("l7tap_http_unmatched_total", reason="message_incomplete")
        self.client("garbage", 4096)
        self.client("abort", 1, path="/abort")
        # Both sides of the garbage connection are marked not-HTTP; both sides of /abort saw a cut response.
        self.assertEqual(self.agent.wait_value(not_http + 2, "l7tap_connections_not_http_total"), not_http + 2)
        self.assertEqual(self.agent.wait_value(incomplete + 2, "l7tap_http_unmatched_total",
                                               reason="message_incomplete"), incomplete + 2)
        self.assertEqual(self.agent.value(SERVER_HIST + "_count", server_port=self.port), 0)
        self.assertIsNone(self.agent.proc.poll(), "l7tap died")
        self.client("keepalive", 2, status=200)  # and the agent still counts what follows
        self.assert_both_sides(2)

    def test_nothing_lost(self):
        self.client("keepalive", 50, status=200)
        self.assert_both_sides(50)
        self.assertEqual(self.agent.value("l7tap_events_lost_total"), 0)
        self.assertEqual(self.agent.value("l7tap_stream_gaps_total"), 0)

    def test_fixed_rate_open_loop(self):
        # The benchmark's load: 4 connections, 2 000 requests/s for 2 s, events reaching the agent in batches.
        out = run([fixture("http_client"), "--port", str(self.port), "--mode", "rate", "--rate", "2000",
                   "--seconds", "2", "--connections", "4", "--path", "/work/0"])
        self.assertIn('"requests": 4000,', out)
        self.assert_both_sides(4000, route="/work/{id}")
        self.assertEqual(self.agent.value("l7tap_events_lost_total"), 0)


class UnbatchedEventsTest(unittest.TestCase):
    """--event-batch-ms=0: the kernel wakes the agent for every event (the batched default is tested above)."""

    def test_exact_counts(self):
        port = free_port()
        agent = Agent("--event-batch-ms=0")
        server = None
        try:
            server = Server([fixture("http_server"), "--port", str(port)], port)
            self.assertEqual(run([fixture("http_client"), "--port", str(port), "--mode", "keepalive", "--count",
                                  "30"]).split(), ["ok", "30"])
            labels = dict(server_port=port, http_request_method="GET", http_response_status_code=200,
                          http_route="/")
            self.assertEqual(agent.wait_value(30, SERVER_HIST + "_count", service_name="http_server", **labels), 30)
            self.assertEqual(agent.wait_value(30, CLIENT_HIST + "_count", service_name="http_client", **labels), 30)
        finally:
            if server:
                server.stop()
            self.assertEqual(agent.stop()[0], 0)


class ThirdPartyTest(unittest.TestCase):
    """python3 -m http.server served to curl."""

    def test_curl_to_python_http_server(self):
        agent = Agent()
        root = tempfile.mkdtemp(prefix="l7tap-e2e-")
        port = free_port()
        try:
            with open(os.path.join(root, "index.html"), "w") as f:
                f.write("<p>hello</p>\n")
            server = Server(["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", root], port)
            try:
                n = 10
                for _ in range(n - 3):  # separate invocations
                    run(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/index.html" % port])
                url = "http://127.0.0.1:%d/index.html" % port  # several URLs in one invocation
                run(["curl", "-sf", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", url, url, url])
                run(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/missing" % port])
                labels = dict(server_port=port, http_request_method="GET")
                self.assertEqual(agent.wait_value(n, SERVER_HIST + "_count", http_response_status_code=200,
                                                  **labels), n)
                self.assertEqual(agent.wait_value(n, CLIENT_HIST + "_count", service_name="curl",
                                                  http_response_status_code=200, **labels), n)
                self.assertEqual(agent.value(SERVER_HIST + "_count", http_response_status_code=404, **labels), 1)
                self.assertEqual(agent.value(CLIENT_HIST + "_count", http_response_status_code=404, **labels), 1)
                self.assertEqual(agent.value("l7tap_events_lost_total"), 0)
            finally:
                server.stop()
        finally:
            shutil.rmtree(root)
            code, out, err = agent.stop()
        self.assertEqual(code, 0, err)
        self.assertIn("GET /index.html -> 200", out)  # --print shows transactions


class NginxTest(unittest.TestCase):
    """Debian's nginx sends file bodies with sendfile(): counted by length, never copied, framing intact."""

    def test_curl_to_nginx_with_sendfile(self):
        agent = Agent()
        nginx = Nginx({"index.html": b"<p>hello</p>\n", "big.bin": bytes(range(256)) * 800})
        try:
            base = "http://127.0.0.1:%d/" % nginx.port
            for _ in range(2):  # one connection, five requests each
                run(["curl", "-sf"] + ["-o/dev/null"] * 5 + [base + "big.bin", base, base + "big.bin", base,
                                                            base + "big.bin"])
            for _ in range(3):
                run(["curl", "-sf", "-o", "/dev/null", base + "big.bin"])
            n = 13
            labels = dict(server_port=nginx.port, http_response_status_code=200)
            self.assertEqual(agent.wait_value(n, SERVER_HIST + "_count", service_name="nginx", **labels), n)
            self.assertEqual(agent.wait_value(n, CLIENT_HIST + "_count", service_name="curl", **labels), n)
            self.assertEqual(agent.value(SERVER_HIST + "_count", http_route="/big.bin", **labels), 9)
            self.assertEqual(agent.value("l7tap_stream_gaps_total"), 0)
            self.assertEqual(agent.value("l7tap_http_desyncs_total"), 0)
        finally:
            nginx.stop()
            agent.stop()


class PidFilterTest(unittest.TestCase):

    def test_only_the_given_process_is_traced(self):
        port = free_port()
        server = Server([fixture("http_server"), "--port", str(port)], port)
        agent = None
        try:
            agent = Agent("--pid", str(server.proc.pid))
            run([fixture("http_client"), "--port", str(port), "--mode", "keepalive", "--count", "7"])
            self.assertEqual(agent.wait_value(7, SERVER_HIST + "_count", server_port=port), 7)
            self.assertEqual(agent.value(CLIENT_HIST + "_count", server_port=port), 0)
        finally:
            server.stop()
            if agent:
                agent.stop()


class BackendChoiceTest(unittest.TestCase):

    def test_forced_kprobe_fails_in_one_clear_line_without_kprobes(self):
        if os.path.exists("/sys/bus/event_source/devices/kprobe/type"):
            self.skipTest("this kernel has kprobes")
        r = subprocess.run([AGENT, "--syscall-probes=kprobe", "--listen", "127.0.0.1:%d" % free_port()],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("--syscall-probes=kprobe", lines[0])
        self.assertIn("tracepoint", lines[0])

    def test_auto_reports_the_backend_it_chose(self):
        agent = Agent()
        try:
            expected = "kprobe" if os.path.exists("/sys/bus/event_source/devices/kprobe/type") else "tracepoint"
            self.assertEqual(agent.value("l7tap_syscall_backend_info", backend=expected), 1)
        finally:
            code, _, err = agent.stop()
        self.assertEqual(code, 0)
        self.assertIn("%s backend" % expected, err)

    def test_bad_flag_is_one_line(self):
        r = subprocess.run([AGENT, "--max-payload-bytes", "99999999"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertIn("--max-payload-bytes", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
