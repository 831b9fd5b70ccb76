"""End to end, as root: one Go HTTPS server binary running in two containers of one image (overlay_ns: two PID
and mount namespaces, each with its own overlayfs mount over one lower directory). The kernel puts uprobes on the
lower file itself, so the file must be attached once: each HTTPS request counted once on each side, and the
uprobe hits per request those of one attach."""
import glob
import os
import shutil
import tempfile
import time
import unittest

from l7tap_harness import Agent, FIXTURES, run
from overlay_ns import OverlayContainers

SERVER_HIST = "http_server_request_duration_seconds"
CLIENT_HIST = "http_client_request_duration_seconds"
SOURCE_FIXTURES = os.path.join(os.path.dirname(__file__), "../../fixtures")
GO_DIR = os.path.join(FIXTURES, "go")


def default_go_build():
    servers = glob.glob(os.path.join(GO_DIR, "go1.*-default-server"))
    if not servers:
        raise AssertionError("no Go fixtures were built (run make deps)")
    return sorted(os.path.basename(p)[:-len("-server")] for p in servers)[-1]


def read_ports(path, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("no ready file %s" % path)
        time.sleep(0.02)
    time.sleep(0.05)  # written whole by then
    with open(path) as f:
        ports = dict(line.split() for line in f.read().splitlines())
    return int(ports["http"]), int(ports["https"])


class OverlayGoTest(unittest.TestCase):
    """Plaintext mode: a second attach of the same file would double every Read and Write event."""
    capture = "plaintext"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-overlay-go-")
        run(["bash", os.path.join(SOURCE_FIXTURES, "make_cert.sh"), cls.tmp])
        cls.agent = Agent("--tls-capture", cls.capture)

    @classmethod
    def tearDownClass(cls):
        code, _, err = cls.agent.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, err

    def attached(self):
        return self.agent.value("l7tap_tls_libraries_attached", library="Go crypto/tls")

    def hits(self):
        return [self.agent.value("l7tap_probe_hits_total", kind=k) for k in ("emulated", "single_step", "uretprobe")]

    def per_request_hits(self, client_bin, https_port):
        """20 keep-alive requests' hits less 10's, over 10 (connection setup cancels out)."""
        url = "https://127.0.0.1:%d/" % https_port
        h0 = self.hits()
        run([client_bin, "-url", url, "-n", "10", "-insecure"])
        h1 = self.hits()
        run([client_bin, "-url", url, "-n", "20", "-insecure"])
        h2 = self.hits()
        return {k: ((c - b) - (b - a)) / 10 for k, a, b, c in zip(("emulated", "single_step", "uretprobe"), h0, h1, h2)}

    def test_same_binary_in_two_containers_counted_once(self):
        build = default_go_build()
        client_bin = os.path.join(GO_DIR, build + "-client")
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        before = self.attached()
        with OverlayContainers({"/app/server": os.path.join(GO_DIR, build + "-server")},
                               ["/app/server", "-port", "0", "-tls-port", "0", "-cert", cert, "-key", key,
                                "-ready-file", "{dir}/ready-{i}"], count=2) as c:
            c.wait_running()
            ports = [read_ports(os.path.join(c.scratch, "ready-%d" % i)) for i in range(2)]
            # The agent looks at an exec'd process again 20 ms, 250 ms and 2 s after its exec.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.attached() < before + 1:
                time.sleep(0.05)
            time.sleep(2.5)
            # (Other suites' Go processes may be attached meanwhile: the attach count is shown, not asserted.)
            attached = self.attached() - before
            # The client's first run brings its binary to the agent's attention; counting starts after.
            run([client_bin, "-url", "http://127.0.0.1:%d/" % ports[0][0], "-n", "0"])
            time.sleep(2.5)
            for _, https in ports:
                out = run([client_bin, "-url", "https://127.0.0.1:%d/" % https, "-n", "10", "-insecure"],
                          timeout=120)
                self.assertTrue(out.startswith("requests 10"), out)
            for _, https in ports:
                server = self.agent.wait_value(10, SERVER_HIST + "_count", server_port=https, service_name="server")
                client = self.agent.wait_value(10, CLIENT_HIST + "_count", server_port=https)
                self.assertEqual((server, client), (10, 10),
                                 "server-side, client-side counts at port %d (Go files attached meanwhile: %d)"
                                 % (https, attached))
            # Per keep-alive request, client and server together: the client's Write and Read, the server's Read
            # and Write and one more Read (5 entry probes), a single-stepped RET probe per Read (3), as test_go
            # measures for one server. A second attach of the server's file would add the server's hits again.
            self.assertEqual(self.per_request_hits(client_bin, ports[1][1]),
                             {"emulated": 5, "single_step": 3, "uretprobe": 0},
                             "uprobe hits per request (Go files attached meanwhile: %d)" % attached)

if __name__ == "__main__":
    unittest.main()
