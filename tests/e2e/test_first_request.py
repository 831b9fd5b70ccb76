"""End to end, as root: a process is traced from its first request. Fresh static binaries (a stripped Go HTTPS
client, a stripped static-OpenSSL client: a new file with a build id never seen, every run) send one request as
soon as they start; a libssl loaded with dlopen() from a path never seen is used right away. Each is held at its
first TLS bytes until its probes are attached (--hold-new-processes), so every run is counted on the client side.
Holding never hangs a process: not when the agent is stopped, killed, or loses its watchdog."""
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from l7tap_harness import Agent, FIXTURES, fixture, make_cert, run
from test_go import GoServer

CLIENT_HIST = "http_client_request_duration_seconds_count"
SERVER_HIST = "http_server_request_duration_seconds_count"
GO_DIR = os.path.join(FIXTURES, "go")
GO_BUILD = "go1.22"
RUNS = 50
LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
GO_ID_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def fresh_copy(src, dst):
    """A copy of an executable that is new to the agent: a new inode, and its build id (GNU build-id note, or
    Go's build ID note) replaced with random bytes of the same length, as a new build would have."""
    with open(src, "rb") as f:
        data = f.read()
    notes = subprocess.run(["readelf", "-n", src], capture_output=True, text=True, check=True).stdout
    go = re.search(r"GO BUILDID\s+description data: ([0-9a-f ]+)", notes)
    if go:
        old = bytes.fromhex(go.group(1))
        new = bytes(GO_ID_CHARS[b % len(GO_ID_CHARS)] if c != ord("/") else c
                    for c, b in zip(old, secrets.token_bytes(len(old))))
    else:
        old = bytes.fromhex(re.search(r"Build ID: ([0-9a-f]+)", notes).group(1))
        new = secrets.token_bytes(len(old))
    assert data.count(old) >= 1, src
    with open(dst, "wb") as f:
        f.write(data.replace(old, new))
    os.chmod(dst, 0o755)


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def wait_stopped(pid, timeout=10):
    """Waits until the process is stopped (state T), at most `timeout` seconds; returns its state."""
    deadline = time.monotonic() + timeout
    while proc_state(pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc_state(pid)


def go_server(tmp, cert, key):
    """The stripped Go server fixture (test_go's GoServer), HTTPS on a free port."""
    return GoServer(os.path.join(GO_DIR, GO_BUILD + "-stripped-server"), cert, key, tmp)


class HoldCase(unittest.TestCase):
    agent_args = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-first-")
        cls.cert, cls.key = make_cert(cls.tmp)
        cls.agent = Agent(*cls.agent_args)

    @classmethod
    def tearDownClass(cls):
        code, _, err = cls.agent.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, err

    def holds(self, outcome):
        return self.agent.value("l7tap_process_holds_total", outcome=outcome)

    def go_client(self, name):
        path = os.path.join(self.tmp, name)
        fresh_copy(os.path.join(GO_DIR, GO_BUILD + "-stripped-client"), path)
        return path

    def run_fresh_go(self, name, port):
        """A fresh copy of the stripped Go client sends one request, then the copy is deleted; its output."""
        client = self.go_client(name)
        out = run([client, "-url", "https://127.0.0.1:%d/" % port, "-n", "1", "-insecure"])
        os.unlink(client)
        return out

    def run_fresh_static(self, stripped, name, port):
        """A fresh copy of the stripped static-OpenSSL client `stripped` sends one request, then is deleted."""
        client = os.path.join(self.tmp, name)
        fresh_copy(stripped, client)
        run([client, "--port", str(port), "--tls", "--mode", "oneshot", "--count", "1"])
        os.unlink(client)

    def start_server(self):
        server = go_server(self.tmp, self.cert, self.key)
        # Attached before the clients run: only the clients are new.
        self.agent.wait_value(1, "l7tap_attach_duration_seconds_count", kind="go", settle=0.2)
        return server


class FirstRequestTest(HoldCase):
    """Every run counted, the first request of each included."""

    def assert_every_run(self, port, runs, client_name, held_before):
        got = self.agent.wait_value(runs, CLIENT_HIST, server_port=port)
        self.assertEqual(got, runs, "client side: %d of %d runs counted" % (got, runs))
        self.assertEqual(self.agent.value(SERVER_HIST, server_port=port), runs)
        self.assertEqual(self.holds("deadline"), 0)
        # Each run is a new file: it is held when it reaches TLS before its probes are attached, never longer.
        print("%s: %d of %d runs held" % (client_name, self.holds("released") - held_before, runs))

    def test_fresh_stripped_go_client(self):
        server = self.start_server()
        held = self.holds("released")
        try:
            for i in range(RUNS):
                out = self.run_fresh_go("goclient-%d" % i, server.https_port)
                self.assertTrue(out.startswith("requests 1"), out)
            self.assert_every_run(server.https_port, RUNS, "go client", held)
        finally:
            server.stop()

    def test_fresh_stripped_static_openssl_client(self):
        server = self.start_server()
        try:
            stripped = os.path.join(self.tmp, "stripped-static")
            run(["strip", "--strip-all", "-o", stripped, fixture("http_client_static")])
            held = self.holds("released")
            for i in range(RUNS):
                self.run_fresh_static(stripped, "sslclient-%d" % i, server.https_port)
            self.assert_every_run(server.https_port, RUNS, "static OpenSSL client", held)
        finally:
            server.stop()

    def test_dlopen_libssl_from_a_new_path(self):
        server = self.start_server()
        attached = self.agent.value("l7tap_tls_libraries_attached")
        runs = 10
        try:
            for i in range(runs):
                plugin = os.path.join(self.tmp, "plugin-%d" % i)
                os.makedirs(plugin)
                shutil.copy(LIBSSL, plugin)  # a new inode at a path the agent has never seen
                run([fixture("dlopen_tls_client"), "--libssl", os.path.join(plugin, "libssl.so.3"),
                     "--port", str(server.https_port), "--count", "2"])
            got = self.agent.wait_value(2 * runs, CLIENT_HIST, server_port=server.https_port)
            self.assertEqual(got, 2 * runs)
            self.assertEqual(self.agent.value("l7tap_tls_libraries_attached"), attached + runs)
        finally:
            server.stop()

    def test_known_binary_is_not_held(self):
        server = self.start_server()
        try:
            client = self.go_client("known-client")
            url = "https://127.0.0.1:%d/" % server.https_port
            run([client, "-url", url, "-n", "1", "-insecure"])
            self.agent.wait_value(1, CLIENT_HIST, server_port=server.https_port)
            time.sleep(0.5)  # its rescans are done
            held = self.holds("released") + self.holds("deadline")
            for _ in range(5):
                run([client, "-url", url, "-n", "1", "-insecure"])
            self.assertEqual(self.agent.wait_value(6, CLIENT_HIST, server_port=server.https_port), 6)
            self.assertEqual(self.holds("released") + self.holds("deadline"), held)
        finally:
            server.stop()


class DetachingTest(HoldCase):
    """Detaching deleted binaries never delays a hold: after 40 fresh Go clients ran and were deleted, fresh
    static OpenSSL clients run one after another while the discovery sweep (every 10 s) detaches the 40. Closing
    their links waits for grace periods (3.6 s for 50 when done in line); none of the clients may wait for it."""

    GO_RUNS = 40

    def file_gone(self):
        return self.agent.value("l7tap_table_evictions_total", table="tls_traced_files", reason="file_gone")

    def test_holds_during_a_detach_sweep(self):
        server = self.start_server()
        try:
            for i in range(self.GO_RUNS):
                out = self.run_fresh_go("goclient-%d" % i, server.https_port)
                self.assertTrue(out.startswith("requests 1"), out)
            gone_before = self.file_gone()
            stripped = os.path.join(self.tmp, "stripped-static")
            run(["strip", "--strip-all", "-o", stripped, fixture("http_client_static")])
            runs, after_sweep = 0, 0
            deadline = time.monotonic() + 40
            # Until three runs after the sweep detached the 40 (bounded: 200 runs, 40 s).
            while after_sweep < 3 and runs < 200 and time.monotonic() < deadline:
                self.run_fresh_static(stripped, "sslclient-%d" % runs, server.https_port)
                runs += 1
                if self.file_gone() - gone_before >= self.GO_RUNS:
                    after_sweep += 1
            self.assertGreaterEqual(self.file_gone() - gone_before, self.GO_RUNS, "the sweep never ran")
            total = self.GO_RUNS + runs
            self.assertEqual(self.agent.wait_value(total, CLIENT_HIST, server_port=server.https_port), total)
            self.assertEqual(self.holds("deadline"), 0)
            print("%d static clients ran while %d Go clients were detached" % (runs, self.GO_RUNS))
        finally:
            server.stop()


class SlowAgentTest(HoldCase):
    """The agent stopped for 300 ms (as late as a busy node makes it) while fresh clients start: each is held at
    its first ClientHello until the agent runs again and attaches, and its one request is counted. Without
    holding, these requests are missed."""

    def run_late(self, argv):
        self.agent.proc.send_signal(signal.SIGSTOP)
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(0.3)
        finally:
            self.agent.proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 0, err)

    def test_first_requests_while_the_agent_lags(self):
        server = self.start_server()
        try:
            held = self.holds("released")
            stripped = os.path.join(self.tmp, "stripped-static")
            run(["strip", "--strip-all", "-o", stripped, fixture("http_client_static")])
            runs = 5
            for i in range(runs):
                client = self.go_client("lagging-go-%d" % i)
                self.run_late([client, "-url", "https://127.0.0.1:%d/" % server.https_port, "-n", "1", "-insecure"])
                static = os.path.join(self.tmp, "lagging-ssl-%d" % i)
                fresh_copy(stripped, static)
                self.run_late([static, "--port", str(server.https_port), "--tls", "--mode", "oneshot", "--count", "1"])
            got = self.agent.wait_value(2 * runs, CLIENT_HIST, server_port=server.https_port)
            self.assertEqual(got, 2 * runs)
            self.assertEqual(self.holds("released") - held, 2 * runs)
            self.assertEqual(self.holds("deadline"), 0)
        finally:
            server.stop()


class AgentStoppedTest(HoldCase):
    """The agent stopped (SIGSTOP: as slow as it gets): a new client is held for the deadline at most, then the
    watchdog resumes it; when the agent runs again it counts that hold as resumed at the deadline."""
    agent_args = ("--hold-deadline-ms", "300")

    def test_deadline(self):
        server = self.start_server()
        try:
            client = self.go_client("late-client")
            self.agent.proc.send_signal(signal.SIGSTOP)
            start = time.monotonic()
            run([client, "-url", "https://127.0.0.1:%d/" % server.https_port, "-n", "1", "-insecure"], timeout=20)
            took = time.monotonic() - start
        finally:
            self.agent.proc.send_signal(signal.SIGCONT)
            server.stop()
        self.assertGreaterEqual(took, 0.3)  # it was held
        self.assertLess(took, 5)
        self.assertEqual(self.agent.wait_value(1, "l7tap_process_holds_total", outcome="deadline"), 1)


class KilledWhileHeldTest(HoldCase):
    """A held process killed before anyone resumes it (the agent stopped, the deadline far away): counted as
    exited, not as released or resumed at the deadline."""
    agent_args = ("--hold-deadline-ms", "20000")

    def test_exited(self):
        server = self.start_server()
        client = self.go_client("killed-client")
        self.agent.proc.send_signal(signal.SIGSTOP)
        try:
            proc = subprocess.Popen([client, "-url", "https://127.0.0.1:%d/" % server.https_port, "-n", "1",
                                     "-insecure"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.assertEqual(wait_stopped(proc.pid), "T", "the client was not held")
            proc.kill()
            proc.wait(timeout=5)
        finally:
            self.agent.proc.send_signal(signal.SIGCONT)
            server.stop()
        self.assertEqual(self.agent.wait_value(1, "l7tap_process_holds_total", outcome="exited", timeout=15), 1)
        self.assertEqual(self.holds("deadline") + self.holds("released"), 0)


class AgentKilledTest(unittest.TestCase):
    """The agent killed (SIGKILL) while it holds a process, with a deadline far away: the watchdog resumes the
    process at once and exits; nothing of the agent is left."""

    def test_sigkill(self):
        tmp = tempfile.mkdtemp(prefix="l7tap-first-")
        try:
            cert, key = make_cert(tmp)
            agent = Agent("--hold-deadline-ms", "60000")
            server = None
            try:
                watchdogs = watchdog_pids(agent.proc.pid)
                self.assertEqual(len(watchdogs), 1)
                server = go_server(tmp, cert, key)
                agent.wait_value(1, "l7tap_attach_duration_seconds_count", kind="go", settle=0.2)
                client = os.path.join(tmp, "client")
                fresh_copy(os.path.join(GO_DIR, GO_BUILD + "-stripped-client"), client)
                agent.proc.send_signal(signal.SIGSTOP)
                proc = subprocess.Popen([client, "-url", "https://127.0.0.1:%d/" % server.https_port, "-n", "1",
                                         "-insecure"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self.assertEqual(wait_stopped(proc.pid), "T", "the client was not held")
                agent.proc.kill()
                agent.proc.wait()
                out, err = proc.communicate(timeout=5)  # resumed by the watchdog, not by its 60 s deadline
                self.assertEqual(proc.returncode, 0, err)
                self.assertTrue(out.startswith(b"requests 1"), out)
                deadline = time.monotonic() + 5
                while any(proc_state(p) not in (None, "Z") for p in watchdogs) and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertFalse([p for p in watchdogs if proc_state(p) not in (None, "Z")], "watchdog left")
            finally:
                if server:
                    server.stop()
                agent.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class WatchdogKilledTest(HoldCase):
    """The watchdog killed: the agent says so in one line and holds nothing from then on."""

    def test_watchdog_gone(self):
        (watchdog,) = watchdog_pids(self.agent.proc.pid)
        os.kill(watchdog, signal.SIGKILL)
        server = self.start_server()
        try:
            time.sleep(1.5)  # the agent looks at its watchdog every second
            for i in range(5):
                run([self.go_client("client-%d" % i), "-url", "https://127.0.0.1:%d/" % server.https_port, "-n", "1",
                     "-insecure"])
            self.assertEqual(self.holds("released") + self.holds("deadline"), 0)
        finally:
            server.stop()
        code, _, err = self.agent.stop()
        self.__class__.agent_stopped = (code, err)
        self.assertIn("the hold watchdog (pid %d) killed by signal 9: new processes are no longer held" % watchdog, err)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        code, err = getattr(cls, "agent_stopped", None) or cls.agent.stop()[::2]
        assert code == 0, err


def watchdog_pids(agent_pid):
    """The agent's hold watchdog: its child running `l7tap __hold-watchdog`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == b"__hold-watchdog" and ppid == agent_pid:
            out.append(int(entry))
    return out


if __name__ == "__main__":
    unittest.main()
