"""The agent as the unprivileged user nobody with exactly the capabilities of its own list
(agent/required_capabilities.h, `l7tap check --capabilities`): complete (with all of them `l7tap check`
passes and the agent traces HTTP, HTTPS and holds new processes) and minimal (each one dropped in turn,
`l7tap check` and the agent at start stop with one line naming exactly it; and with the start-up check off,
the thing the line names really fails). The HTTP and TLS suites run as nobody too (L7TAP_E2E_AS_USER=1,
tests/e2e/CMakeLists.txt)."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import l7tap_harness
from l7tap_harness import (AGENT, Agent, as_user, fixture, free_port, make_cert, required_capabilities, run,
                           stop_process, wait_port)
from test_first_request import fresh_copy, wait_stopped

SERVER_HIST = "http_server_request_duration_seconds_count"
CLIENT_HIST = "http_client_request_duration_seconds_count"
# The reviewed list: a capability added to or removed from the code shows up here first.
EXPECTED = ["CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE", "CAP_CHECKPOINT_RESTORE",
            "CAP_KILL"]
MISSING_CAP = re.compile(r"missing (CAP_[A-Z_]+)")


def check(capabilities, *args):
    r = subprocess.run(as_user([AGENT, "check", *args], capabilities), capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout


def start_fails(capabilities, *args):
    """The agent as nobody with `capabilities`: it must exit by itself; returns (exit code, stderr)."""
    port = free_port()
    r = subprocess.run(as_user([AGENT, "--listen", "127.0.0.1:%d" % port, *args], capabilities),
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr


class UserAgent(Agent):
    """l7tap_harness.Agent started as nobody with the given capabilities (whatever L7TAP_E2E_AS_USER says)."""

    def __init__(self, capabilities, *args):
        saved = l7tap_harness.AS_USER, l7tap_harness.required_capabilities
        l7tap_harness.AS_USER, l7tap_harness.required_capabilities = True, lambda *a: capabilities
        try:
            # Each test starts several agents; on a loaded node loading the probes alone can take a minute.
            super().__init__(*args, ready_timeout=180)
        finally:
            l7tap_harness.AS_USER, l7tap_harness.required_capabilities = saved


def without(cap):
    return [c for c in EXPECTED if c != cap]


class CapabilityList(unittest.TestCase):
    def test_the_list(self):
        self.assertEqual(required_capabilities(), EXPECTED)
        # Features that are off need less: no TLS probes, no reading other processes' files; no holding, no
        # resuming.
        self.assertEqual(required_capabilities("--tls-probes", "off"), ["CAP_BPF", "CAP_PERFMON",
                                                                        "CAP_DAC_READ_SEARCH"])
        self.assertEqual(required_capabilities("--hold-new-processes", "off"), without("CAP_KILL"))

    def test_check_passes_with_exactly_the_list(self):
        code, out = check(EXPECTED)
        self.assertEqual(code, 0, out)
        lines = out.splitlines()
        self.assertTrue(all(line.startswith("ok: ") for line in lines), out)
        for cap in EXPECTED:
            self.assertIn("ok: " + cap + "\n", out)

    def test_each_dropped_is_named_by_check_and_at_start(self):
        for cap in EXPECTED:
            with self.subTest(cap=cap):
                code, out = check(without(cap))
                self.assertEqual(code, 1, out)
                self.assertEqual(MISSING_CAP.findall(out), [cap], out)
                code, err = start_fails(without(cap))
                self.assertEqual(code, 1, err)
                self.assertEqual(MISSING_CAP.findall(err), [cap], err)
                self.assertNotIn("loading BPF programs", err)  # stopped before loading anything


class WhatFailsWithout(unittest.TestCase):
    """With --preflight off and one capability dropped, what its line says fails, fails."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-priv-")
        os.chmod(cls.tmp, 0o755)
        cls.cert, cls.key = make_cert(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tls_server(self, env=None):
        """The OpenSSL fixture server, run by root (another user than the agent's)."""
        port = free_port()
        proc = subprocess.Popen([fixture("http_server"), "--port", str(port), "--tls", "--cert", self.cert,
                                 "--key", self.key], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
        except TimeoutError:
            stop_process(proc)
            raise
        return proc, port

    def https(self, port, count):
        out = run([fixture("http_client"), "--port", str(port), "--mode", "keepalive", "--count", str(count),
                   "--tls"])
        self.assertEqual(out.split(), ["ok", str(count)])

    def stopped(self, agent):
        code, _, err = agent.stop()
        self.assertEqual(code, 0, err)
        return err

    def test_bpf_and_perfmon(self):
        code, err = start_fails(without("CAP_BPF"), "--preflight", "off")
        self.assertEqual(code, 1, err)
        self.assertIn("loading BPF programs was refused (Operation not permitted)", err)
        code, err = start_fails(without("CAP_PERFMON"), "--preflight", "off")
        self.assertEqual(code, 1, err)
        self.assertIn("loading BPF programs was refused (Operation not permitted)", err)

    def test_dac_read_search(self):
        code, err = start_fails(without("CAP_DAC_READ_SEARCH"), "--preflight", "off")
        self.assertEqual(code, 1, err)
        self.assertIn("cannot search /sys/kernel/tracing/events (Permission denied)", err)

    def private_libssl(self, name):
        """A copy of libssl and libcrypto for one server: the agent attaches to the system's libssl by its path,
        so only a copy shows what reaching another process's files takes."""
        libdir = os.path.join(self.tmp, name)
        os.makedirs(libdir, exist_ok=True)
        for lib in ("libssl.so.3", "libcrypto.so.3"):
            shutil.copy("/usr/lib/x86_64-linux-gnu/" + lib, os.path.join(libdir, lib))
        return libdir

    def test_sys_ptrace(self):
        """Another user's process: its libssl is not found (/proc/PID/maps refused), its HTTPS not seen."""
        libdir = self.private_libssl("ssl")
        server, port = self.tls_server(env=dict(os.environ, LD_LIBRARY_PATH=libdir))
        try:
            for caps, want in ((without("CAP_SYS_PTRACE"), 0), (EXPECTED, 5)):
                agent = UserAgent(caps, "--preflight", "off", "--pid", str(server.pid))
                try:
                    time.sleep(1.5)  # discovery has run
                    self.https(port, 5)
                    got = agent.wait_value(want, SERVER_HIST, service_name="http_server", timeout=5 if want else 2)
                finally:
                    self.stopped(agent)
                self.assertEqual(got, want, caps)
        finally:
            stop_process(server)

    def test_checkpoint_restore(self):
        """A libssl deleted under a running server is reached through /proc/PID/map_files only."""
        libdir = self.private_libssl("oldssl")
        server, port = self.tls_server(env=dict(os.environ, LD_LIBRARY_PATH=libdir))
        try:
            os.unlink(os.path.join(libdir, "libssl.so.3"))
            for caps, want in ((without("CAP_CHECKPOINT_RESTORE"), 0), (EXPECTED, 7)):
                agent = UserAgent(caps, "--preflight", "off", "--pid", str(server.pid))
                try:
                    time.sleep(1.5)
                    self.https(port, 7)
                    got = agent.wait_value(want, SERVER_HIST, service_name="http_server", timeout=5 if want else 2)
                finally:
                    err = self.stopped(agent)
                self.assertEqual(got, want, (caps, err))
        finally:
            stop_process(server)

    def test_kill(self):
        """Holding as nobody: a fresh client held while the agent lags is resumed and counted. The resume is a
        kill(SIGCONT) of another user's process in another session: without CAP_KILL that is refused."""
        server, port = self.tls_server()
        stripped = os.path.join(self.tmp, "stripped-static")
        run(["strip", "--strip-all", "-o", stripped, fixture("http_client_static")])
        agent = UserAgent(EXPECTED, "--preflight", "off")
        client = None
        try:
            path = os.path.join(self.tmp, "client")
            fresh_copy(stripped, path)
            agent.proc.send_signal(signal.SIGSTOP)
            try:
                client = subprocess.Popen([path, "--port", str(port), "--tls", "--mode", "oneshot", "--count", "1"],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
                time.sleep(0.3)
            finally:
                agent.proc.send_signal(signal.SIGCONT)
            _, err = client.communicate(timeout=20)
            self.assertEqual(client.returncode, 0, err)
            self.assertEqual(agent.wait_value(1, CLIENT_HIST, server_port=port), 1)
        finally:
            if client and client.poll() is None:
                stop_process(client)
            self.stopped(agent)
            stop_process(server)
        # What the agent and its watchdog do to resume a held process, with and without CAP_KILL.
        stopped = subprocess.Popen(["sleep", "60"], start_new_session=True)
        try:
            for caps, code in ((without("CAP_KILL"), 1), (EXPECTED, 0)):
                stopped.send_signal(signal.SIGSTOP)
                wait_stopped(stopped.pid, timeout=5)
                r = subprocess.run(as_user(["kill", "-CONT", str(stopped.pid)], caps), capture_output=True, text=True)
                self.assertEqual(r.returncode, code, r.stderr)
                if code:
                    self.assertIn("Operation not permitted", r.stderr)
        finally:
            stop_process(stopped)


if __name__ == "__main__":
    unittest.main()
