#!/usr/bin/env python3
"""Exec-to-attached latency and event-thread lag under an exec storm (make bench; root).

attach: fresh builds (a new file and a new build id each run, so nothing is cached) of a 20 MB stripped Go binary
(cmd/go, fixtures/go's go_fixture_big, stripped here) and of a stripped static-OpenSSL binary (http_client_static)
are run one at a time; the agent's own log line says how long after the kernel's exec the uprobe was attached.
p50/p99 over the runs.

storm: while 10 000 plain-HTTP requests/s flow (http_client --mode rate), 200 execs/s of new Go binaries
(fresh copies of the stripped Go client, cycled), for a fixed time. Lag: a marker request every 100 ms; from its
response at the client to its line in the agent's --print output. Run against this build's agent and, with
--baseline-agent, an older one (e.g. the agent before discovery moved off the event thread)."""
import argparse
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/e2e"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_copy(src, dst):
    # One helper for tests and benchmarks: a new inode and a new build id.
    from test_first_request import fresh_copy as copy
    copy(src, dst)


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


class Agent:
    def __init__(self, binary, *args, stdout_lines=False):
        self.port = free_port()
        self.err = tempfile.TemporaryFile(mode="w+")
        self.lines = []
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:%d" % self.port, *args],
                                     stdout=subprocess.PIPE if stdout_lines else subprocess.DEVNULL,
                                     stderr=self.err, text=True, bufsize=1)
        if stdout_lines:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=2) as r:
                    if re.search(r"^l7tap_ready 1", r.read().decode(), re.M):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("agent not ready")

    def _read(self):
        for line in self.proc.stdout:
            if "/lagprobe-" in line:
                self.lines.append((time.monotonic(), line))

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def attach_latency(build, runs):
    fixtures = os.path.join(build, "fixtures")
    tmp = tempfile.mkdtemp(prefix="l7tap-attach-")
    results = {}
    try:
        big = os.path.join(tmp, "big-go")
        subprocess.run(["strip", "--strip-all", "-o", big, os.path.join(fixtures, "go", "go1.23-big-cmd-go")],
                       check=True)
        static = os.path.join(tmp, "static-ssl")
        subprocess.run(["strip", "--strip-all", "-o", static, os.path.join(fixtures, "http_client_static")],
                       check=True)
        agent = Agent(os.path.join(build, "l7tap"))
        try:
            for kind, src, argv in (("go", big, ["version"]), ("executable", static, ["--help"])):
                times = []
                for i in range(runs):
                    path = os.path.join(tmp, "%s-%d" % (kind, i))
                    fresh_copy(src, path)
                    subprocess.run([path] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    deadline = time.monotonic() + 10
                    pattern = re.compile(r"attached .* to %s \(.*, ([0-9.]+) ms after exec" % re.escape(path))
                    while time.monotonic() < deadline:
                        m = pattern.search(agent.stderr())
                        if m:
                            times.append(float(m.group(1)))
                            break
                        time.sleep(0.02)
                    os.unlink(path)
                results[kind] = {"runs": runs, "attached": len(times), "size_mb": os.path.getsize(src) / 1e6,
                                 "p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99),
                                 "max_ms": max(times) if times else float("nan")}
        finally:
            agent.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def storm(build, agent_binary, seconds, rate, execs_per_s, big=False):
    """big: every exec is a build never seen (fresh copies of the 16 MB stripped cmd/go, `go version`), one per
    exec; else 20 fresh copies of the stripped Go client, cycled (after its first run each is known)."""
    fixtures = os.path.join(build, "fixtures")
    tmp = tempfile.mkdtemp(prefix="l7tap-storm-")
    port = free_port()
    server = subprocess.Popen([os.path.join(fixtures, "http_server"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    copies = []
    try:
        if big:
            src = os.path.join(tmp, "big-go")
            subprocess.run(["strip", "--strip-all", "-o", src, os.path.join(fixtures, "go", "go1.23-big-cmd-go")],
                           check=True)
            args = ["version"]
        else:
            src, args = os.path.join(fixtures, "go", "go1.22-stripped-client"), ["-url", "http://127.0.0.1:1/", "-n", "0"]
        for i in range(int(seconds * execs_per_s) + 1 if big else 20):
            path = os.path.join(tmp, "goclient-%d" % i)
            fresh_copy(src, path)
            copies.append(path)
        time.sleep(0.5)
        agent = Agent(agent_binary, "--print", stdout_lines=True)
        try:
            load = subprocess.Popen([os.path.join(fixtures, "http_client"), "--port", str(port), "--mode", "rate",
                                     "--rate", str(rate), "--seconds", str(seconds), "--connections", "8"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stop = threading.Event()
            execs = [0]

            def exec_storm():
                start = time.monotonic()
                procs = []
                while not stop.is_set():
                    due = start + execs[0] / execs_per_s
                    now = time.monotonic()
                    if due > now:
                        time.sleep(due - now)
                        continue
                    procs.append(subprocess.Popen([copies[execs[0] % len(copies)]] + args, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
                    execs[0] += 1
                    procs = [p for p in procs if p.poll() is None]
                for p in procs:
                    p.wait()

            t = threading.Thread(target=exec_storm)
            t.start()
            sent = {}
            end = time.monotonic() + seconds
            n = 0
            while time.monotonic() < end:
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.sendall(b"GET /lagprobe-%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % n)
                    while s.recv(4096):
                        pass
                sent[n] = time.monotonic()
                n += 1
                time.sleep(0.1)
            stop.set()
            t.join()
            load.wait(timeout=seconds + 30)
            time.sleep(2)
            first = {}  # marker -> when its first line (client or server side) was printed
            for seen, line in agent.lines:
                m = re.search(r"/lagprobe-(\d+)", line)
                if m and int(m.group(1)) in sent:
                    first.setdefault(int(m.group(1)), seen)
            lags = [(first[i] - sent[i]) * 1000 for i in first]
            seen_ids = set(first)
        finally:
            agent.stop()
        return {"agent": agent_binary, "new_builds": big, "seconds": seconds, "rate": rate, "execs": execs[0],
                "markers": len(sent), "markers_seen": len(seen_ids & set(sent)),
                "lag_p50_ms": percentile(lags, 50), "lag_p99_ms": percentile(lags, 99),
                "lag_max_ms": max(lags) if lags else float("nan")}
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--baseline-agent", help="an older l7tap binary to compare the storm lag with")
    ap.add_argument("--json")
    a = ap.parse_args()
    runs, seconds = (10, 5) if a.quick else (40, 15)
    out = {"attach": attach_latency(a.build, runs), "storm": []}
    agents = [os.path.join(a.build, "l7tap")] + ([a.baseline_agent] if a.baseline_agent else [])
    for binary in agents:
        out["storm"].append(storm(a.build, binary, seconds, 10000, 200))
    for binary in agents:  # every exec a build never seen: 20 per second, each parsed
        out["storm"].append(storm(a.build, binary, 3 if a.quick else 5, 10000, 20, big=True))
    print("### Exec to attached (fresh builds, nothing cached)\n")
    print("| binary | size | runs attached | p50 | p99 | max |\n|---|---|---|---|---|---|")
    for kind, r in out["attach"].items():
        print("| %s | %.1f MB | %d/%d | %.1f ms | %.1f ms | %.1f ms |" % (
            "stripped Go (cmd/go)" if kind == "go" else "stripped static OpenSSL", r["size_mb"], r["attached"],
            r["runs"], r["p50_ms"], r["p99_ms"], r["max_ms"]))
    print("\n### Event-thread lag under an exec storm (10 000 req/s; a marker request every 100 ms, response to its"
          " --print line)\n")
    print("| agent | execs | markers seen | lag p50 | p99 | max |\n|---|---|---|---|---|---|")
    for r in out["storm"]:
        what = ("%d new 16 MB Go builds (20/s)" if r["new_builds"] else "%d execs at 200/s of 20 Go copies") % r["execs"]
        print("| %s | %s | %d/%d | %.1f ms | %.1f ms | %.1f ms |" % (
            r["agent"], what, r["markers_seen"], r["markers"], r["lag_p50_ms"], r["lag_p99_ms"], r["lag_max_ms"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
