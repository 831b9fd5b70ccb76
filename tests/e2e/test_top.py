"""End to end, as root: `l7tap top` in a real terminal (tmux), tracing the fixture HTTP server and a dnsmasq
(--pid), under known traffic: 20 req/s of "/", 5 req/s of "/slow" (50 ms each) and 2 req/s of "/error" (500) for
12 s, and 5 lookups. The screen's totals must equal what was sent, its rates (10 s window) the rates sent; the
sort keys must reorder the rows; q must stop the agent cleanly (probes detached, exit 0)."""
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from l7tap_harness import AGENT, Server, fixture, free_port, run
from test_dns import Dnsmasq, free_udp_tcp_port

TRAFFIC = {"/": 20, "/slow": 5, "/error": 2}  # requests per second
SECONDS = 12
START_TIMEOUT = 180  # the agent scans every process and library at start: slow on a loaded machine


class Screen:
    """A private tmux server (its own socket) with one 200x50 session running a command; the pane stays after
    the command exits so its exit status and last output can be read."""

    def __init__(self, command):
        if not shutil.which("tmux"):
            raise AssertionError("tmux is needed (make deps installs it)")
        # Socket and configuration in a directory of our own, removed at close (tmux leaves its socket file).
        self.dir = tempfile.mkdtemp(prefix="l7tap-test-top-")
        self.socket = os.path.join(self.dir, "tmux.sock")
        self.conf = os.path.join(self.dir, "tmux.conf")
        with open(self.conf, "w") as f:
            f.write("set -g remain-on-exit on\nset -g history-limit 100\n")
        self.tmux("new-session", "-d", "-s", "top", "-x", "200", "-y", "50", command)
        self.pid = int(self.pane("#{pane_pid}"))

    def tmux(self, *args):
        r = subprocess.run(["tmux", "-S", self.socket, "-f", self.conf, *args], capture_output=True, text=True,
                           timeout=10)
        if r.returncode != 0:
            raise AssertionError("tmux %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def text(self):
        return self.tmux("capture-pane", "-p", "-t", "top")

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError("screen never showed %s; it shows:\n%s" % (what, text))
            time.sleep(0.2)

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "top", *keys)

    def pane(self, fmt):
        return self.tmux("display-message", "-p", "-t", "top", fmt).strip()

    def close(self):
        """Ends the session; the pane's process (the agent, if q was never pressed) gets SIGHUP, then SIGKILL."""
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=10)
        deadline = time.monotonic() + 20
        while os.path.exists("/proc/%d" % self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if os.path.exists("/proc/%d" % self.pid):
            os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def parse(text):
    """The screen's two tables: {"http": [fields...], "dns": [fields...]}, rows in screen order."""
    tables = {"http": [], "dns": []}
    section = None
    for line in text.splitlines():
        if line.startswith("HTTP/gRPC:"):
            section = "http"
        elif line.startswith("DNS:"):
            section = "dns"
        elif not line.strip() or line.startswith("log:"):
            section = None if not line.strip() else section
        elif section and not line.startswith("SERVICE"):
            tables[section].append(line.split())
    return tables


def http_rows(text):
    """{route: {column: value}} of the HTTP table (SERVICE SIDE KIND ROUTE TOTAL ERRORS REQ/S ERR% P50 P99 LAST)."""
    out = {}
    for f in parse(text)["http"]:
        out[f[3]] = dict(service=f[0], side=f[1], kind=f[2], total=int(f[4]), errors=int(f[5]), rate=float(f[6]),
                         err_pct=float(f[7]), p50=f[8], p99=f[9], last_error=f[10])
    return out


def route_order(text):
    return [f[3] for f in parse(text)["http"]]


class TopTest(unittest.TestCase):
    def setUp(self):
        self.screen = None
        self.port = free_port()
        self.server = Server([fixture("http_server"), "--port", str(self.port)], self.port)
        self.dns_port = free_udp_tcp_port()
        self.dns = Dnsmasq(self.dns_port)

    def tearDown(self):
        if self.screen:
            self.screen.close()  # kills the agent too if a test failed before q
        self.dns.stop()
        self.server.stop()

    def start_top(self, *flags):
        # The shell prints the exit status: tmux 3.3 does not always record a dead pane's status.
        top = shlex.join([AGENT, "top", "--pid", str(self.server.proc.pid), "--pid", str(self.dns.proc.pid),
                          "--dns-ports", str(self.dns_port), *flags])
        self.screen = Screen(top + '; echo "l7tap top exited $?"')
        return self.screen.wait(lambda t: "l7tap top - tracing" in t, START_TIMEOUT, "the agent tracing")

    def quit(self):
        """q: the agent detaches and exits 0; the pane shows its log once the terminal is given back."""
        self.screen.keys("q")
        text = self.screen.wait(lambda t: "l7tap top exited" in t, 60, "l7tap top exiting on q")
        self.assertIn("l7tap top exited 0", text)
        self.assertIn("l7tap: detaching probes and exiting", text)
        return text

    def test_screen_counts_the_traffic_and_sorts(self):
        metrics = free_port()
        self.start_top("--listen", "127.0.0.1:%d" % metrics)
        for name in ("a.test", "a.test", "a.test", "nx.test", "nx.test"):
            run(["dig", "@127.0.0.1", "-p", str(self.dns_port), "+tries=1", "+timeout=2", name])

        results = {}

        def client(path, rate):
            out = run([fixture("http_client"), "--port", str(self.port), "--mode", "rate", "--rate", str(rate),
                       "--seconds", str(SECONDS), "--path", path], timeout=SECONDS + 30)
            results[path] = json.loads(out)["requests"]

        threads = [threading.Thread(target=client, args=item) for item in TRAFFIC.items()]
        began = time.monotonic()
        for t in threads:
            t.start()
        # Mid-traffic, once a whole window (10 s) lies inside it: the rates are the rates sent.
        time.sleep(11.6 - (time.monotonic() - began))
        during = self.screen.text()
        for t in threads:
            t.join()
        self.assertEqual(results, {p: r * SECONDS for p, r in TRAFFIC.items()})
        rows = http_rows(during)
        self.assertEqual(set(rows), set(TRAFFIC), during)
        for path, rate in TRAFFIC.items():
            self.assertLessEqual(abs(rows[path]["rate"] - rate), 0.1 * rate + 0.2, "%s:\n%s" % (path, during))
        self.assertEqual(route_order(during), ["/", "/slow", "/error"], "sorted by rate")
        self.assertIn("sort: rate", during)

        # Totals are exact once the last requests are in.
        want = {p: r * SECONDS for p, r in TRAFFIC.items()}
        text = self.screen.wait(lambda t: {p: v["total"] for p, v in http_rows(t).items()} == want, 10,
                                "the totals sent %r" % want)
        rows = http_rows(text)
        self.assertEqual({p: (v["service"], v["side"], v["kind"]) for p, v in rows.items()},
                         {p: ("http_server", "server", "http") for p in TRAFFIC})
        self.assertEqual({p: v["errors"] for p, v in rows.items()}, {"/": 0, "/slow": 0, "/error": 2 * SECONDS})
        self.assertEqual(rows["/error"]["err_pct"], 100.0)
        self.assertEqual(rows["/error"]["last_error"], "500")
        self.assertGreaterEqual(float(rows["/slow"]["p50"]), 50.0)  # ms: the server sleeps 50 ms
        self.assertLess(float(rows["/"]["p99"]), 50.0)
        # The agent's own numbers agree (same process, same transactions).
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics, timeout=5) as r:
            body = r.read().decode()
        self.assertIn('http_route="/slow"', body)
        # DNS: dnsmasq's side, per question; NXDOMAIN is an error. (Its readiness probe before top: not seen.)
        dns = {f[3]: f for f in parse(text)["dns"]}
        self.assertEqual(set(dns), {"a.test", "nx.test"}, text)
        self.assertEqual(dns["a.test"][0:2] + dns["a.test"][4:6], ["dnsmasq", "server", "3", "0"])
        self.assertEqual(dns["nx.test"][0:2] + dns["nx.test"][4:6], ["dnsmasq", "server", "2", "2"])
        self.assertEqual(dns["nx.test"][-1], "NXDOMAIN")
        self.assertIn("events lost 0, HTTP requests lost 0", text)

        # Sort keys: the rows reorder (the window still holds the traffic).
        for key, title, order in (("e", "errors", ["/error", "/", "/slow"]), ("p", "p99", ["/slow"]),
                                  ("n", "name", ["/", "/error", "/slow"]), ("t", "total", ["/", "/slow", "/error"])):
            self.screen.keys(key)
            text = self.screen.wait(lambda t: "sort: %s" % title in t, 5, "sort: " + title)
            self.assertEqual(route_order(text)[:len(order)], order, "sort %s:\n%s" % (title, text))

        self.quit()
        with self.assertRaises(OSError):  # /metrics went with the agent
            urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics, timeout=2)

    def test_no_metrics_without_listen_and_no_terminal_refused(self):
        self.start_top()
        text = self.quit()
        self.assertIn("/metrics not served", text)
        r = subprocess.run([AGENT, "top"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("top needs a terminal", r.stderr)


if __name__ == "__main__":
    unittest.main()
