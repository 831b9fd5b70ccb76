"""End to end, as root: gRPC (service l7tap.test.Echo, fixtures/go/grpc and fixtures/grpc_*.py) between Go
(google.golang.org/grpc over crypto/tls and over h2c) and Python (grpcio, h2c only: grpcio does its TLS on memory
BIOs, which the agent cannot see) servers and clients. Unary calls and server streams, ending OK or with an error
status (NOT_FOUND, INVALID_ARGUMENT, trailers-only), large messages, several calls at once on one connection, and
streams the client cancels (RST_STREAM). Every call must be counted exactly once on each side, in
rpc_server_duration_seconds / rpc_client_duration_seconds (rpc_system, rpc_service, rpc_method,
rpc_grpc_status_code, service_name, server_port), cancelled ones with error_type="rst_stream", and nothing in the
http_* histograms; nothing lost, no parsing noise."""
import glob
import os
import subprocess
import time
import unittest

from l7tap_harness import FIXTURES, IN_CI, mismatches, missing_dependency, stop_process, sum_samples
from test_go import GoCase
from test_go_http2 import h2_noise

RPC_SERVER = "rpc_server_duration_seconds"
RPC_CLIENT = "rpc_client_duration_seconds"
HTTP_SERVER = "http_server_request_duration_seconds"
HTTP_CLIENT = "http_client_request_duration_seconds"
SERVICE = "l7tap.test.Echo"
SOURCE_FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../fixtures")
GRPC_DIR = os.path.join(FIXTURES, "go", "grpc")
# Debian's interpreter: python3-grpcio is installed for it (the python3 first on PATH may be another one).
PYTHON = "/usr/bin/python3"
PY_SERVER = os.path.join(SOURCE_FIXTURES, "grpc_server.py")
PY_CLIENT = os.path.join(SOURCE_FIXTURES, "grpc_client.py")
CANCELLED = 1  # grpc status CANCELLED, what a client sees when it cancels

KIB256 = 256 << 10

# (client flags, {(method, status): calls}): what each client run does and must end with (the client checks
# every call's status and messages).
CALLS = [
    (dict(method="Unary", n=10), {("Unary", 0): 10}),
    (dict(method="Unary", n=6, c=3), {("Unary", 0): 6}),                               # 3 streams at once
    (dict(method="Unary", n=3, code=5), {("Unary", 5): 3}),                            # NOT_FOUND
    (dict(method="Unary", n=2, code=3), {("Unary", 3): 2}),                            # INVALID_ARGUMENT
    (dict(method="Unary", n=2, size=KIB256, request_bytes=KIB256), {("Unary", 0): 2}),  # many DATA frames
    (dict(method="ServerStream", n=4, count=5, c=2), {("ServerStream", 0): 4}),
    (dict(method="ServerStream", n=2, count=3, code=5), {("ServerStream", 5): 2}),   # messages, then error
    (dict(method="ServerStream", n=2, count=0, code=3), {("ServerStream", 3): 2}),   # trailers only
    (dict(method="ServerStream", n=2, count=3, delay_ms=100), {("ServerStream", 0): 2}),  # 200 ms each
]
# A server stream counts once with its full duration: the delayed calls alone last this long in all.
STREAM_SECONDS = 2 * (3 - 1) * 0.100
# Cancelled by the client after 2 of 3 messages, the server holding the stream open: an RST_STREAM ends it.
# The client then makes one more call, Unary and OK, so that the last RST_STREAM is sent before it closes.
CANCELS = (dict(method="ServerStream", n=2, count=3, cancel_after=2), 2)
AFTER_CANCELS = {("Unary", 0): 1}
RAW_SUBTYPE = (dict(method="Unary", n=2, subtype="raw"), {("Unary", 0): 2})       # application/grpc+raw


def grpc_builds():
    """'go1.19-default' for every pair of Go gRPC fixtures built (or those named in L7TAP_GRPC_BUILDS,
    comma-separated)."""
    only = [b for b in os.environ.get("L7TAP_GRPC_BUILDS", "").split(",") if b]
    builds = []
    for server in glob.glob(os.path.join(GRPC_DIR, "go1.*-server")):
        build = os.path.basename(server)[:-len("-server")]
        if os.path.exists(os.path.join(GRPC_DIR, build + "-client")) and (not only or build in only):
            builds.append(build)
    return sorted(builds)


def python_env():
    """The environment for Debian's python3, without what another interpreter's setup may have put there."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def comm(path):
    """The process name the kernel gives an executable: its file name, truncated to 15 characters."""
    return os.path.basename(path)[:15]


class ReadyServer:
    """A server that writes its bound ports to a ready file ("NAME PORT" lines)."""

    def __init__(self, argv, ready, env=None):
        self.ready = ready
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s did not start: %s" % (argv[0], self.proc.stderr.read().decode()))
            time.sleep(0.01)
        with open(ready) as f:
            self.ports = {name: int(port) for name, port in (line.split() for line in f.read().splitlines())}

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        stop_process(self.proc)
        self.proc.stderr.close()
        if os.path.exists(self.ready):
            os.unlink(self.ready)


class GrpcCase(GoCase):
    """One agent per class (GoCase: a certificate in a temp dir, Go attach helpers, losses and noise)."""

    @classmethod
    def setUpClass(cls):
        r = subprocess.run([PYTHON, "-c", "import grpc"], capture_output=True, text=True, env=python_env())
        if r.returncode != 0:
            missing_dependency("python3-grpcio for %s (make deps installs it): %s" % (PYTHON, r.stderr.strip()))
        super().setUpClass()

    def ready_file(self):
        return os.path.join(self.tmp, "ready-%d" % time.monotonic_ns())

    def start_go_server(self, build):
        ready = self.ready_file()
        return ReadyServer([os.path.join(GRPC_DIR, build + "-server"), "-port", "0", "-tls-port", "0",
                            "-cert", self.cert, "-key", self.key, "-ready-file", ready], ready)

    def start_python_server(self):
        ready = self.ready_file()
        return ReadyServer([PYTHON, PY_SERVER, "--port", "0", "--ready-file", ready], ready, env=python_env())

    def go_client(self, build, addr, tls=False, **flags):
        argv = [os.path.join(GRPC_DIR, build + "-client"), "-addr", addr]
        if tls:
            argv.append("-tls")
        argv += ["-%s=%s" % (k.replace("_", "-"), v) for k, v in flags.items()]
        return self.run_client(argv, None)

    def python_client(self, addr, **flags):
        argv = [PYTHON, PY_CLIENT, "--addr", addr]
        for k, v in flags.items():
            argv += ["-" + k if len(k) == 1 else "--" + k.replace("_", "-"), str(v)]
        return self.run_client(argv, python_env())

    def run_client(self, argv, env):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
        if r.returncode != 0:
            raise AssertionError("%s failed (%d): %s %s" % (" ".join(argv), r.returncode, r.stdout.strip(),
                                                           r.stderr.strip()))
        return r.stdout

    def send(self, client, plan, cancels=True, raw=False):
        """Runs the plan with `client(**flags)`; returns ({(method, status): calls}, cancelled calls)."""
        runs = list(plan) + ([RAW_SUBTYPE] if raw else [])
        expected = {}
        for flags, counts in runs:
            out = client(**flags)
            statuses = {}
            for (method, status), n in counts.items():
                expected[(method, status)] = expected.get((method, status), 0) + n
                statuses[status] = statuses.get(status, 0) + n
            self.assertEqual(out.strip(), "calls %d %s" % (flags["n"], " ".join(
                "status %d:%d" % s for s in sorted(statuses.items()))), flags)
        cancelled = 0
        if cancels:
            flags, n = CANCELS
            out = client(**flags)
            self.assertEqual(out.strip(), "calls %d status %d:%d" % (n, CANCELLED, n), flags)
            cancelled = n
            for key, calls in AFTER_CANCELS.items():
                expected[key] = expected.get(key, 0) + calls
        return expected, cancelled

    def observed(self, port, keys, server_comm, client_comm):
        """What the agent holds at `port`: per side and (method, status) of `keys`, in all, with
        error_type rst_stream and goaway, under the processes' names, and in the http_* histograms."""
        samples = self.agent.scrape()
        out = {}
        for side, hist, name in (("server", RPC_SERVER, server_comm), ("client", RPC_CLIENT, client_comm)):
            count = hist + "_count"
            out[(side, "all")] = sum_samples(samples, count, server_port=port)
            out[(side, "grpc", SERVICE)] = sum_samples(samples, count, server_port=port, rpc_system="grpc",
                                                      rpc_service=SERVICE)
            out[(side, "service_name", name)] = sum_samples(samples, count, server_port=port, service_name=name)
            for error in ("rst_stream", "goaway", "connection_closed"):
                out[(side, "error_type", error)] = sum_samples(samples, count, server_port=port, error_type=error)
            for method, status in keys:
                out[(side, method, status)] = sum_samples(
                    samples, count, server_port=port, rpc_system="grpc", rpc_service=SERVICE, rpc_method=method,
                    rpc_grpc_status_code=status)
            out[(side, "seconds", "ServerStream")] = sum_samples(samples, hist + "_sum", server_port=port,
                                                                 rpc_method="ServerStream")
        for side, hist in (("server", HTTP_SERVER), ("client", HTTP_CLIENT)):
            out[(side, "http")] = sum_samples(samples, hist + "_count", server_port=port)
        return out

    def expect(self, keys, cancelled, server_comm, client_comm):
        """observed() as it must be (beyond what was there before) after `keys` calls and `cancelled` ones."""
        total = sum(keys.values()) + cancelled
        out = {}
        for side, name in (("server", server_comm), ("client", client_comm)):
            out[(side, "all")] = total
            out[(side, "grpc", SERVICE)] = total
            out[(side, "service_name", name)] = total
            out[(side, "error_type", "rst_stream")] = cancelled
            out[(side, "error_type", "goaway")] = 0
            out[(side, "error_type", "connection_closed")] = 0
            out[(side, "http")] = 0
            out[(side, "seconds", "ServerStream", ">= %g" % STREAM_SECONDS)] = True
            for (method, status), n in keys.items():
                out[(side, method, status)] = n
        return out

    def check(self, ports):
        """ports: {port: (keys, cancelled, server_comm, client_comm, base)}: waits until every port's total on
        each side reaches what was sent (one deadline), lets late events land, then compares everything."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            samples = self.agent.scrape()
            if all(sum_samples(samples, hist + "_count", server_port=port) >=
                   base[(side, "all")] + sum(keys.values()) + cancelled
                   for port, (keys, cancelled, _, _, base) in ports.items()
                   for side, hist in (("server", RPC_SERVER), ("client", RPC_CLIENT))):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        got, want = {}, {}
        for port, (keys, cancelled, server_comm, client_comm, base) in ports.items():
            for key, value in self.observed(port, keys, server_comm, client_comm).items():
                if key[1] == "seconds":  # a lower bound
                    key, value = key + (">= %g" % STREAM_SECONDS,), value - base[key] >= STREAM_SECONDS
                else:
                    value -= base[key]
                got[(port,) + key] = value
            for key, value in self.expect(keys, cancelled, server_comm, client_comm).items():
                want[(port,) + key] = value
        return got, want

    def base(self, port, server_comm, client_comm):
        keys = [(flags["method"], status) for flags, counts in CALLS + [RAW_SUBTYPE] for (_, status) in counts]
        return self.observed(port, keys, server_comm, client_comm)


class GoGrpcTest(GrpcCase):
    """Go client and Go server, over TLS (Go crypto/tls uprobes) and h2c (syscall probes), every gRPC build."""

    def test_every_build(self):
        builds = grpc_builds()
        if not builds:
            missing_dependency("no Go gRPC fixtures were built (make deps installs golang-google-grpc-dev)")
        if IN_CI and not any(b.endswith("-stripped") for b in builds) and not os.environ.get("L7TAP_GRPC_BUILDS"):
            self.fail("no stripped Go gRPC fixture in CI: %s" % ", ".join(builds))
        for build in builds:
            with self.subTest(build=build):
                self.check_build(build)

    def check_build(self, build):
        losses, noise, noise2 = self.losses(), self.noise(), h2_noise(self.agent)
        name = comm(os.path.join(GRPC_DIR, build + "-server"))  # server and client: the same 15 characters
        before = self.attached()
        server = self.start_go_server(build)
        try:
            self.wait_attached(before, build + "-server")
            h2c, tls = server.ports["h2c"], server.ports["tls"]
            # The client binary's first run brings it to the agent's attention (see test_go); no call is made.
            before = self.attached()
            self.go_client(build, "127.0.0.1:%d" % h2c, n=0)
            self.wait_attached(before, build + "-client")
            bases = {port: self.base(port, name, name) for port in (h2c, tls)}
            ports = {}
            for port, tls_flag in ((tls, True), (h2c, False)):
                keys, cancelled = self.send(
                    lambda **f: self.go_client(build, "127.0.0.1:%d" % port, tls=tls_flag, **f), CALLS, raw=True)
                ports[port] = (keys, cancelled, name, name, bases[port])
            self.assertTrue(server.alive(), "%s exited" % build)
        finally:
            server.stop()
        got, want = self.check(ports)
        got["losses"], want["losses"] = self.losses(), losses
        got["noise"], want["noise"] = self.noise(), noise
        got["http2 noise"], want["http2 noise"] = h2_noise(self.agent), noise2
        wrong = mismatches(got, want)
        if wrong:
            self.fail("%s: (port, side, what) beyond what was there before:\n%s" % (build, "\n".join(wrong)))


class PythonGrpcTest(GrpcCase):
    """Python (grpcio) over h2c: Python to Python, Python to Go, Go to Python."""

    def go_build(self):
        """The newest default Go gRPC build (or the newest build at all, when L7TAP_GRPC_BUILDS names none)."""
        builds = grpc_builds()
        if not builds:
            missing_dependency("no Go gRPC fixtures were built (make deps installs golang-google-grpc-dev)")
        return ([b for b in builds if b.endswith("-default")] or builds)[-1]

    def run_pair(self, server, client, server_comm, client_comm):
        losses, noise, noise2 = self.losses(), self.noise(), h2_noise(self.agent)
        try:
            port = server.ports["h2c"]
            base = self.base(port, server_comm, client_comm)
            keys, cancelled = self.send(lambda **f: client("127.0.0.1:%d" % port, **f), CALLS)
            self.assertTrue(server.alive(), "the server exited")
        finally:
            server.stop()
        got, want = self.check({port: (keys, cancelled, server_comm, client_comm, base)})
        got["losses"], want["losses"] = self.losses(), losses
        got["noise"], want["noise"] = self.noise(), noise
        got["http2 noise"], want["http2 noise"] = h2_noise(self.agent), noise2
        wrong = mismatches(got, want)
        if wrong:
            self.fail("(port, side, what) beyond what was there before:\n%s" % "\n".join(wrong))

    def test_python_to_python(self):
        self.run_pair(self.start_python_server(), self.python_client, "python3", "python3")

    def test_python_to_go(self):
        build = self.go_build()
        self.run_pair(self.start_go_server(build), self.python_client,
                      comm(os.path.join(GRPC_DIR, build + "-server")), "python3")

    def test_go_to_python(self):
        build = self.go_build()
        self.run_pair(self.start_python_server(), lambda addr, **f: self.go_client(build, addr, **f),
                      "python3", comm(os.path.join(GRPC_DIR, build + "-client")))


if __name__ == "__main__":
    unittest.main()
