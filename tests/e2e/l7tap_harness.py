"""Shared pieces of l7tap's end-to-end tests: run the agent, scrape and parse /metrics, run processes."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

BUILD_DIR = os.environ.get("L7TAP_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
AGENT = os.path.join(BUILD_DIR, "l7tap")
FIXTURES = os.path.join(BUILD_DIR, "fixtures")
SOURCE_FIXTURES = os.path.join(os.path.dirname(__file__), "../../fixtures")

IN_CI = os.environ.get("CI") == "true"


def missing_dependency(what):
    """A dependency the test needs is missing: in CI (CI=true) that fails the run, elsewhere the test is
    skipped with what to install."""
    if IN_CI:
        raise AssertionError("missing in CI: " + what)
    raise unittest.SkipTest(what)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


_ports_given = set()


def free_port():
    """A free port never handed out before in this process: the kernel may pick the same port again, and an
    agent counting per port would then add a later test's requests to an earlier one's."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def parse_metrics(text):
    """Prometheus text format -> list of (name, {label: value}, float)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError("unparsable metrics line: %r" % line)
        labels = dict(_LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def sum_samples(samples, name, **labels):
    """Sum of the samples (parse_metrics) of `name` whose labels include `labels` (float values compare
    numerically; a label given as None must be absent): Agent.value on one scrape, for reading many values at
    one moment."""
    def matches(have, want):
        if want is None:
            return have is None
        if have is None:
            return False
        if isinstance(want, float):  # bucket bounds: compare as numbers, whatever the formatting
            return float(have) == want
        return have == str(want)
    return sum(v for n, l, v in samples if n == name and all(matches(l.get(k), x) for k, x in labels.items()))


def mismatches(got, want):
    """The keys where two {key: value} dicts differ, one line each ("key: got G, want W"), for assertion
    messages that show every wrong count at once and only those."""
    lines = []
    for key in sorted(set(got) | set(want), key=repr):
        if got.get(key) != want.get(key):
            lines.append("%r: got %r, want %r" % (key, got.get(key, "nothing"), want.get(key, "nothing")))
    return lines


def wait_port(port, timeout=10.0):
    """Waits until something listens on 127.0.0.1:port (connect and close: no HTTP is sent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on port %d" % port)


# L7TAP_E2E_AS_USER=1: the agent runs as the unprivileged user nobody holding exactly the capabilities
# `l7tap check --capabilities` lists for its flags (tests/e2e/CMakeLists.txt runs the HTTP and TLS suites
# that way too), instead of as root.
AS_USER = os.environ.get("L7TAP_E2E_AS_USER") == "1"
UNPRIVILEGED_USER, UNPRIVILEGED_GROUP = "nobody", "nogroup"


def required_capabilities(*agent_args):
    """The capability names the agent needs with these flags, from the agent's own list."""
    out = subprocess.run([AGENT, "check", "--capabilities", *agent_args], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def as_user(argv, capabilities, user=UNPRIVILEGED_USER, group=UNPRIVILEGED_GROUP):
    """argv run as `user` with its own group only, no new privileges, and exactly `capabilities` (names such
    as CAP_BPF) in its effective, permitted, inheritable, ambient and bounding sets: what systemd's
    AmbientCapabilities= with CapabilityBoundingSet= gives."""
    caps = ",".join(["-all"] + ["+" + c[len("CAP_"):].lower() for c in capabilities])
    return ["setpriv", "--reuid=" + user, "--regid=" + group,
            "--clear-groups", "--no-new-privs", "--inh-caps=" + caps, "--ambient-caps=" + caps,
            "--bounding-set=" + caps, "--", *argv]


LOSS_COUNTERS = ("l7tap_connections_not_http_total", "l7tap_http_parse_errors_total", "l7tap_http_desyncs_total",
                 "l7tap_stream_gaps_total", "l7tap_events_lost_total", "l7tap_http2_header_state_lost_total",
                 "l7tap_http2_header_blocks_partial_total", "l7tap_http2_desyncs_total",
                 "l7tap_http2_protocol_errors_total")


class Agent:
    """An l7tap process for the duration of a test class."""

    def __init__(self, *extra_args, ready_timeout=60):
        self.port = free_port()
        # Files, not pipes: a pipe nobody drains would stall the agent's --print output.
        self.out = tempfile.TemporaryFile(mode="w+")
        self.err = tempfile.TemporaryFile(mode="w+")
        argv = [AGENT, "--listen", "127.0.0.1:%d" % self.port, "--print", *extra_args]
        if AS_USER:
            argv = as_user(argv, required_capabilities(*extra_args))
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err, text=True)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("l7tap exited early: %s" % self.stop()[2])
            try:
                if self.value("l7tap_ready") == 1:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError("l7tap did not become ready")

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=5) as r:
            return parse_metrics(r.read().decode())

    def value(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels` (float values compare numerically; a label
        given as None must be absent, e.g. error_type=None for HTTP/2 streams that ended normally)."""
        return sum_samples(self.scrape(), name, **labels)

    def wait_value(self, expected, name, settle=0.5, timeout=20.0, **labels):
        """Waits until the value reaches `expected`, then lets late events land and returns the final value
        (so over-counting shows)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.value(name, **labels) < expected:
            time.sleep(0.1)
        time.sleep(settle)
        return self.value(name, **labels)

    def loss_counters(self):
        """Counters that must not move in a clean run: a leak of encrypted bytes into parsing, a protocol the
        parsers gave up on, holes, lost events, lost HTTP/2 header state. Compare before and after: one entry
        per series (e.g. each reason of l7tap_events_lost_total), so a difference says which."""
        out = {n: 0.0 for n in LOSS_COUNTERS}
        for name, labels, v in self.scrape():
            if name in LOSS_COUNTERS and labels:
                out["%s{%s}" % (name, ",".join("%s=%s" % kv for kv in sorted(labels.items())))] = v
            elif name in LOSS_COUNTERS:
                out[name] = v
        return out

    def stop(self):
        """SIGTERM; returns (exit code, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        texts = []
        for f in (self.out, self.err):
            f.seek(0)
            texts.append(f.read())
            f.close()
        return self.proc.returncode, texts[0], texts[1]


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """A background server process, killed at exit."""

    def __init__(self, argv, port, cwd=None):
        self.port = port
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
        except TimeoutError:
            self.stop()
            raise

    def stop(self):
        stop_process(self.proc)


def fixture(name):
    return os.path.join(FIXTURES, name)


def make_cert(directory):
    """A throw-away self-signed certificate (localhost, 127.0.0.1) in directory: (cert path, key path)."""
    run(["bash", os.path.join(SOURCE_FIXTURES, "make_cert.sh"), directory])
    return os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")


def run(argv, timeout=60):
    """Runs a client to completion; raises with its stderr when it fails."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r.stdout


NGINX_CONF = """
worker_processes 1;
worker_rlimit_nofile {nofile};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections {connections}; }}
http {{
  access_log off;
  sendfile on;
  keepalive_requests 1000;
  keepalive_timeout 600s;
  client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
  uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
  server {{
    listen 127.0.0.1:{port}{tls}{http2};
    root {dir}/www;
    {tls_files}
    {server_extra}
  }}
}}
"""


class Nginx(Server):
    """Debian's nginx serving files from a temp dir (sendfile on, as nginx is usually run)."""

    def __init__(self, files, tls=None, worker_connections=64, http2=False, server_extra=""):
        """files: {name: bytes}; tls: (cert path, key path) to serve HTTPS; http2: serve HTTP/2 (with tls: offered
        by ALPN next to HTTP/1.1; without: cleartext h2c by prior knowledge only, nginx 1.22 speaks no HTTP/1 on
        such a port); server_extra: more directives for the server block (e.g. locations)."""
        self.dir = tempfile.mkdtemp(prefix="l7tap-nginx-")
        os.chmod(self.dir, 0o755)  # nginx workers run as www-data
        os.makedirs(os.path.join(self.dir, "www"))
        os.makedirs(os.path.join(self.dir, "tmp"))
        for name, data in files.items():
            with open(os.path.join(self.dir, "www", name), "wb") as f:
                f.write(data)
        port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(
                dir=self.dir, port=port, tls=" ssl" if tls else "", http2=" http2" if http2 else "",
                server_extra=server_extra, connections=worker_connections,
                nofile=2 * worker_connections + 100,
                tls_files="ssl_certificate %s; ssl_certificate_key %s;" % tls if tls else ""))
        super().__init__(["nginx", "-c", conf, "-p", self.dir], port)

    def stop(self):
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)
