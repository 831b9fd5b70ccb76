"""End to end, as root: the agent outside the host PID namespace (refused, or degraded when allowed), and the
container_id label of a process in a container's cgroup (one the test makes under the cgroup v2 hierarchy)."""
import os
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

from l7tap_harness import AGENT, Agent, Server, fixture, free_port, parse_metrics, run, sum_samples

SERVER_HIST = "http_server_request_duration_seconds"
CLIENT_HIST = "http_client_request_duration_seconds"
CONTAINER_ID = "5e2a3c0d9f1b4a6e8c7d2f0a1b3e5c7d9f2a4b6c8e0d1f3a5b7c9e2d4f6a8b0c"


def in_pid_namespace(*agent_args):
    """The agent started as pid 1 of a new PID namespace, /proc remounted for it (no hostPID)."""
    return subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", AGENT, *agent_args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return parse_metrics(r.read().decode())


class PidNamespaceTest(unittest.TestCase):
    def test_refused_with_one_line_naming_the_fix(self):
        port = free_port()
        p = in_pid_namespace("--listen", "127.0.0.1:%d" % port)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertRegex(lines[0], r"^l7tap: running in a PID namespace of its own \(pid 1 here, \d+ on the host\): ")
        for fix in ("hostPID: true", "--pid=host", "systemd service", "--allow-pid-namespace"):
            self.assertIn(fix, lines[0])

    def test_allowed_runs_degraded_and_reports_host_pids(self):
        port = free_port()
        p = in_pid_namespace("--listen", "127.0.0.1:%d" % port, "--print", "--allow-pid-namespace",
                             "--syscall-probes=tracepoint", "--tls-probes=off")
        server = None
        try:
            deadline = time.monotonic() + 60
            while True:
                self.assertIsNone(p.poll(), "l7tap exited: %s" % (p.stderr.read() if p.poll() is not None else ""))
                self.assertLess(time.monotonic(), deadline, "l7tap did not become ready")
                try:
                    if sum_samples(scrape(port), "l7tap_ready") == 1:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            http_port = free_port()
            server = Server([fixture("http_server"), "--port", str(http_port)], http_port)
            self.assertEqual(run([fixture("http_client"), "--port", str(http_port), "--mode", "keepalive",
                                  "--count", "7"]).split(), ["ok", "7"])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and sum_samples(scrape(port), SERVER_HIST + "_count",
                                                              server_port=http_port) < 7:
                time.sleep(0.1)
            time.sleep(1.5)  # past a tracker sweep: degraded liveness checks must not end the connections
            samples = scrape(port)
            self.assertEqual(sum_samples(samples, SERVER_HIST + "_count", server_port=http_port,
                                         service_name="http_server", container_id=""), 7)
            self.assertEqual(sum_samples(samples, CLIENT_HIST + "_count", server_port=http_port,
                                         service_name="http_client"), 7)
            server_pid = server.proc.pid
        finally:
            if server:
                server.stop()
            # unshare waits for its child: the agent is pid 1 inside, the child of unshare outside.
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                children = f.read().split()
            if children:
                os.kill(int(children[0]), signal.SIGTERM)
            out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertRegex(err, r"l7tap: --allow-pid-namespace: running in a PID namespace of its own \(pid 1 here, "
                              r"\d+ on the host\); reported pids are the host's\. /proc here does not show them, "
                              r"so degraded: container_id is empty")
        # --print names processes by their host pids.
        self.assertIn("http_server[%d]" % server_pid, out)


def cgroup2_root():
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    raise AssertionError("no cgroup2 hierarchy is mounted")


class ContainerCgroup:
    """A cgroup named as docker (systemd driver) names a container's: SLICE/docker-<64hex>.scope."""

    def __init__(self, container_id):
        self.slice = os.path.join(cgroup2_root(), "l7tap-test-%d.slice" % os.getpid())
        self.path = os.path.join(self.slice, "docker-%s.scope" % container_id)
        os.makedirs(self.path)

    def remove(self):
        deadline = time.monotonic() + 10
        for d in (self.path, self.slice):
            while os.path.exists(d):
                try:
                    os.rmdir(d)
                except OSError:  # EBUSY until the last process of it is reaped
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


class ContainerIdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent("--syscall-probes=tracepoint", "--tls-probes=off")

    @classmethod
    def tearDownClass(cls):
        code, _, err = cls.agent.stop()
        assert code == 0, err

    def test_server_in_a_container_cgroup_and_host_client(self):
        cg = ContainerCgroup(CONTAINER_ID)
        server = None
        try:
            port = free_port()
            # The server is in the cgroup before its first connection: the shell moves itself, then execs it.
            server = Server(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$1" --port "$2"', cg.path,
                             fixture("http_server"), str(port)], port)
            with open("/proc/%d/cgroup" % server.proc.pid) as f:
                self.assertIn("/docker-%s.scope" % CONTAINER_ID, f.read())
            self.assertEqual(run([fixture("http_client"), "--port", str(port), "--mode", "keepalive",
                                  "--count", "9"]).split(), ["ok", "9"])
            self.assertEqual(run([fixture("http_client"), "--port", str(port), "--mode", "oneshot",
                                  "--count", "4"]).split(), ["ok", "4"])
            got = self.agent.wait_value(13, SERVER_HIST + "_count", server_port=port, service_name="http_server",
                                        container_id=CONTAINER_ID)
            self.assertEqual(got, 13)
            self.assertEqual(self.agent.value(SERVER_HIST + "_count", server_port=port), 13)
            # The client ran on the host.
            self.assertEqual(self.agent.wait_value(13, CLIENT_HIST + "_count", server_port=port,
                                                   service_name="http_client", container_id=""), 13)
            self.assertEqual(self.agent.value(CLIENT_HIST + "_count", server_port=port), 13)
            self.assertGreaterEqual(self.agent.value("l7tap_table_entries", table="container_ids"), 1)
        finally:
            if server:
                server.stop()
            cg.remove()


if __name__ == "__main__":
    unittest.main()
