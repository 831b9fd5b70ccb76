"""End to end, as root: what is traced (--pid, --pid-tree, --exe, --container-id, --cgroup, --port and the
--exclude-* flags). Each case runs its own agent, real servers and clients on loopback, and counts every
server's and client's transactions by port: exactly the selected processes' and connections' appear."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from l7tap_harness import AGENT, Agent, Server, fixture, free_port, run, stop_process, wait_port
from test_containers import ContainerCgroup, cgroup2_root

SERVER = "http_server_request_duration_seconds_count"
CLIENT = "http_client_request_duration_seconds_count"
CONTAINER_ID = "7c1d0e9f8a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d"
AGENT_FLAGS = ("--syscall-probes=tracepoint", "--tls-probes=off")


def http_server():
    port = free_port()
    return Server([fixture("http_server"), "--port", str(port)], port)


def python_server(root):
    port = free_port()
    return Server(["/usr/bin/python3", "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", root],
                  port)


def requests(port, n, mode="keepalive"):
    """n requests from the fixture client (oneshot: a connection each, for HTTP/1.0 servers)."""
    out = run([fixture("http_client"), "--port", str(port), "--mode", mode, "--count", str(n)])
    assert out.split() == ["ok", str(n)], out


def in_cgroup(path, port):
    """An http_server started in cgroup `path` (the shell moves itself there, then execs the server)."""
    return Server(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$1" --port "$2"', path, fixture("http_server"),
                   str(port)], port)


class Counts:
    """Expected (server side, client side) transactions per port, checked against one agent's metrics."""

    def __init__(self, test, agent):
        self.test, self.agent = test, agent

    def expect(self, want):
        # The positive counts first (waiting for them), then every count at once, zeros included: a
        # transaction of an unselected process would have arrived with the others.
        for port, (server, client) in want.items():
            if server:
                self.agent.wait_value(server, SERVER, settle=0, server_port=port)
            if client:
                self.agent.wait_value(client, CLIENT, settle=0, server_port=port)
        time.sleep(1)
        got = {port: (self.agent.value(SERVER, server_port=port), self.agent.value(CLIENT, server_port=port))
               for port in want}
        self.test.assertEqual(got, {port: (float(s), float(c)) for port, (s, c) in want.items()})


class SelectionCase(unittest.TestCase):
    def setUp(self):
        self.cleanups = []

    def tearDown(self):
        for f in reversed(self.cleanups):
            f()

    def server(self, make):
        s = make()
        self.cleanups.append(s.stop)
        return s

    def agent(self, *flags):
        a = Agent(*AGENT_FLAGS, *flags)

        def stop():
            code, _, err = a.stop()
            self.assertEqual(code, 0, err)
        self.cleanups.append(stop)
        return Counts(self, a), a


class PidTest(SelectionCase):
    def test_pid_selects_that_process_only(self):
        a, b = self.server(http_server), self.server(http_server)
        counts, _ = self.agent("--pid", str(a.proc.pid))
        requests(a.port, 7)
        requests(b.port, 5)
        counts.expect({a.port: (7, 0), b.port: (0, 0)})

    def test_exclude_pid_wins_over_pid(self):
        a, b = self.server(http_server), self.server(http_server)
        counts, _ = self.agent("--pid", str(a.proc.pid), "--pid", str(b.proc.pid), "--exclude-pid", str(b.proc.pid))
        requests(a.port, 4)
        requests(b.port, 6)
        counts.expect({a.port: (4, 0), b.port: (0, 0)})


class PidTreeTest(SelectionCase):
    def test_tree_covers_children_forked_after_start(self):
        directory = tempfile.mkdtemp(prefix="l7tap-sel-")
        self.cleanups.append(lambda: shutil.rmtree(directory))
        go = os.path.join(directory, "go")
        port, outside = free_port(), self.server(http_server)
        # The tree's root waits (bounded) for the agent, then forks a server and a client of it: both are
        # new processes of the tree; the agent only ever got the root's pid.
        root = subprocess.Popen(
            ["sh", "-c", 'i=0; while [ ! -e "$0" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; '
                         '"$1" --port "$2" >/dev/null & '
                         'i=0; until "$3" --port "$2" --mode keepalive --count 5 >/dev/null 2>&1 || [ $i -ge 100 ]; '
                         'do sleep 0.05; i=$((i+1)); done; wait',
             go, fixture("http_server"), str(port), fixture("http_client")],
            start_new_session=True)

        def stop_root():
            try:
                os.killpg(root.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            root.wait(timeout=10)
        self.cleanups.append(stop_root)
        counts, _ = self.agent("--pid-tree", str(root.pid))
        open(go, "w").close()
        wait_port(port)
        requests(port, 7)  # from outside the tree: only the tree's server side is traced
        requests(outside.port, 3)
        counts.expect({port: (12, 5), outside.port: (0, 0)})

    def test_two_trees_and_an_exclusion_inside_one(self):
        a, b, c = self.server(http_server), self.server(http_server), self.server(http_server)
        counts, _ = self.agent("--pid-tree", str(a.proc.pid), "--pid-tree", str(b.proc.pid),
                               "--exclude-pid", str(b.proc.pid))
        requests(a.port, 2)
        requests(b.port, 3)
        requests(c.port, 4)
        counts.expect({a.port: (2, 0), b.port: (0, 0), c.port: (0, 0)})


class ExeTest(SelectionCase):
    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp(prefix="l7tap-sel-")
        self.cleanups.append(lambda: shutil.rmtree(self.root))
        with open(os.path.join(self.root, "index.html"), "w") as f:
            f.write("<p>hello</p>\n")

    def test_exe_by_name_and_by_path_at_start_and_at_exec(self):
        before = self.server(http_server)
        py = self.server(lambda: python_server(self.root))
        # The server by its name; the client by its whole path (a glob with a '/').
        counts, _ = self.agent("--exe", "http_server", "--exe", fixture("http_client"))
        after = self.server(http_server)  # decided at its exec
        requests(before.port, 3)
        requests(after.port, 4)
        requests(py.port, 5, "oneshot")
        counts.expect({before.port: (3, 3), after.port: (4, 4), py.port: (0, 5)})

    def test_exclude_exe_alone_traces_everything_else(self):
        a = self.server(http_server)
        py = self.server(lambda: python_server(self.root))
        counts, _ = self.agent("--exclude-exe", "python3*")
        later = self.server(lambda: python_server(self.root))
        requests(a.port, 2)
        requests(py.port, 3, "oneshot")
        requests(later.port, 4, "oneshot")
        counts.expect({a.port: (2, 2), py.port: (0, 3), later.port: (0, 4)})

    def test_exclude_exe_wins_over_exe(self):
        a = self.server(http_server)
        counts, _ = self.agent("--exe", "http_*", "--exclude-exe", "http_client")
        requests(a.port, 6)
        # Fresh clients, each traced from its exec until the agent's decision: what they sent meanwhile is
        # dropped, none of their transactions recorded.
        for _ in range(10):
            requests(a.port, 1)
        counts.expect({a.port: (16, 0)})


class PortTest(SelectionCase):
    def test_port_selects_connections_of_every_process(self):
        a, b = self.server(http_server), self.server(http_server)
        counts, agent = self.agent("--port", str(a.port))
        skipped = agent.value("l7tap_selection_skipped_total", kind="connection")
        run([fixture("http_client"), "--port", str(b.port), "--mode", "oneshot", "--count", "4"])
        requests(a.port, 5)
        counts.expect({a.port: (5, 5), b.port: (0, 0)})
        # 4 connections, each seen at both ends (other processes' count too: at least).
        self.assertGreaterEqual(agent.value("l7tap_selection_skipped_total", kind="connection") - skipped, 8)

    def test_exclude_port(self):
        a, b = self.server(http_server), self.server(http_server)
        counts, _ = self.agent("--exclude-port", str(b.port))
        requests(a.port, 3)
        requests(b.port, 3)
        counts.expect({a.port: (3, 3), b.port: (0, 0)})

    def test_port_filters_the_selected_processes(self):
        a, b = self.server(http_server), self.server(http_server)
        c = self.server(http_server)
        counts, _ = self.agent("--pid", str(a.proc.pid), "--pid", str(c.proc.pid), "--port", str(a.port),
                               "--port", str(b.port))
        requests(a.port, 2)
        requests(b.port, 3)
        requests(c.port, 4)
        counts.expect({a.port: (2, 0), b.port: (0, 0), c.port: (0, 0)})


class CgroupTest(SelectionCase):
    def setUp(self):
        super().setUp()
        self.parent = os.path.join(cgroup2_root(), "l7tap-sel-%d" % os.getpid())
        self.inner = os.path.join(self.parent, "inner")
        os.makedirs(self.inner)
        self.cleanups.append(self.remove_cgroups)

    def remove_cgroups(self):
        deadline = time.monotonic() + 10
        for d in (self.inner, self.parent):
            while os.path.exists(d):
                try:
                    os.rmdir(d)
                except OSError:  # EBUSY until its last process is reaped
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def test_cgroup_and_below(self):
        inside = self.server(lambda: in_cgroup(self.inner, free_port()))
        outside = self.server(http_server)
        counts, _ = self.agent("--cgroup", self.parent)
        requests(inside.port, 5)
        requests(outside.port, 2)
        counts.expect({inside.port: (5, 0), outside.port: (0, 0)})

    def test_exclude_cgroup(self):
        counts, _ = self.agent("--exclude-cgroup", self.inner)
        inside = self.server(lambda: in_cgroup(self.inner, free_port()))  # moved in after the start
        outside = self.server(http_server)
        requests(inside.port, 3)
        requests(outside.port, 4)
        counts.expect({inside.port: (0, 3), outside.port: (4, 4)})

    def test_not_a_cgroup_is_a_start_up_error(self):
        r = subprocess.run([AGENT, *AGENT_FLAGS, "--listen", "127.0.0.1:%d" % free_port(), "--cgroup", "/tmp"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stderr), (1, "l7tap: --cgroup /tmp: not a cgroup v2 directory\n"))


class ContainerIdTest(SelectionCase):
    def setUp(self):
        super().setUp()
        self.cg = ContainerCgroup(CONTAINER_ID)
        self.cleanups.append(self.cg.remove)

    def test_container_started_after_the_agent_by_short_id(self):
        counts, _ = self.agent("--container-id", CONTAINER_ID[:12])
        inside = self.server(lambda: in_cgroup(self.cg.path, free_port()))
        outside = self.server(http_server)
        requests(inside.port, 6)
        requests(outside.port, 2)
        counts.expect({inside.port: (6, 0), outside.port: (0, 0)})

    def test_running_container_found_at_start_and_excluded(self):
        inside = self.server(lambda: in_cgroup(self.cg.path, free_port()))
        outside = self.server(http_server)
        counts, _ = self.agent("--exclude-container-id", CONTAINER_ID)
        requests(inside.port, 3)
        requests(outside.port, 2)
        counts.expect({inside.port: (0, 3), outside.port: (2, 2)})

    def test_running_container_found_at_start(self):
        inside = self.server(lambda: in_cgroup(self.cg.path, free_port()))
        outside = self.server(http_server)
        counts, _ = self.agent("--container-id", CONTAINER_ID)
        requests(inside.port, 4)
        requests(outside.port, 1)
        counts.expect({inside.port: (4, 0), outside.port: (0, 0)})


if __name__ == "__main__":
    unittest.main()
