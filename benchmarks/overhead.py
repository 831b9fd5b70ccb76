#!/usr/bin/env python3
"""What tracing costs a traced service: the fixture HTTP/HTTPS server (fixtures/http_server, dynamic libssl)
with a configurable service time, driven over loopback by wrk (closed loop: latency on one connection,
throughput on 8) and by the fixture client at a fixed rate (open loop), untraced and under l7tap in several probe
configurations. Modes are interleaved (A B A B ...) so machine drift cancels; every figure is the median over
the repetitions, ratios are taken within one repetition (traced / untraced) before the median.

HTTPS is traced two ways: mode both (--tls-capture plaintext: uprobes on SSL_read/SSL_write) and mode keys
(--tls-capture keys: one uprobe on the key-log function per handshake, the agent decrypts what the syscall
probes copy). Mode keys also gets a fixed-rate HTTPS run at 20 000 requests/s (with untraced and both beside it).

Go: the stripped go1.23 fixture server (fixtures/go/server, crypto/tls) under wrk over HTTPS, untraced, both
and keys, latency on one connection and throughput on 8; every traced run checks the agent's count of the
server's requests against wrk's.

HTTP/2: h2load (Debian's nghttp2-client, on the system libssl) against Debian's nginx over TLS (`ssl http2`,
ALPN h2) on loopback, untraced, both and keys in the same run: one connection with one stream at a time
(latency) and 4 connections with 10 concurrent streams each (throughput), a fixed request count each; every
traced run checks that the agent counted exactly that many HTTP/2 requests on nginx's side.

  overhead.py [--build DIR] [--quick] [--json FILE] [--only http1,go,h2] [--modes syscalls,both,keys,...]

--only picks rows: http1 (the fixture server), go (the Go server), h2 (nginx); --only h2 takes about 80 s with
--quick, --only go about a minute. --modes picks traced modes (untraced always runs). An agent without
--tls-capture runs mode both with its only mechanism (plaintext) and has no keys rows.

Prints Markdown tables and writes --json for the report."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
# The service and its load generator share CPU 0 and the agent gets CPU 1: in a closed loop the service CPU then
# never idles (an idle vCPU's wake-up latency would otherwise dwarf the probes, and an agent keeping CPUs busy
# would make traced runs look faster), and the agent's own work stays off the measured path.
def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu), *argv] if (os.cpu_count() or 1) >= 2 else argv

ROOT = os.path.dirname(HERE)

# How TLS is captured, spelled out: the agent's default (auto) picks keys wherever it finds a key-log hook, so
# the plaintext rows name their mechanism to keep measuring it.
PLAINTEXT = ["--tls-capture", "plaintext"]
KEYS = ["--tls-capture", "keys"]

# (name, scheme, l7tap arguments or None for untraced). Schemes: "http" and "https" are the fixture server,
# "go" the Go fixture server over HTTPS. "tls-only" measures what the TLS uprobes cost, nothing more: OpenSSL's
# socket is named by the syscall probes, so without them its plaintext is dropped (counted as lost,
# tls_no_connection). "both" is syscall probes plus the plaintext uprobes on SSL_read/SSL_write and Go's
# (*tls.Conn).Read/Write; "both-entry" the same with --probe-placement=entry. "keys" is syscall probes plus one
# uprobe per file on the key-log function: the agent decrypts the ciphertext the syscall probes copy.
MODES = [
    ("untraced", "http", None),
    ("syscalls", "http", ["--tls-probes", "off"]),
    ("untraced", "https", None),
    ("syscalls", "https", ["--tls-probes", "off"]),
    ("tls-only", "https", ["--syscall-probes", "off", *PLAINTEXT]),
    ("both", "https", PLAINTEXT),
    ("both-entry", "https", ["--probe-placement", "entry", *PLAINTEXT]),
    ("keys", "https", KEYS),
    ("untraced", "go", None),
    ("both", "go", PLAINTEXT),
    ("keys", "go", KEYS),
]
MODE_NAMES = list(dict.fromkeys(m[0] for m in MODES))
SCHEME_TITLE = {"http": "HTTP", "https": "HTTPS", "go": "Go HTTPS (%s)"}

# The Go fixture: stripped (no .symtab, no DWARF), so l7tap finds crypto/tls through .gopclntab as it must in
# most production binaries; the newest toolchain the build has.
GO_SERVER = "go1.23-stripped-server"


def tls_capture_flag(build):
    """Whether this agent has --tls-capture (its --help lists it)."""
    out = subprocess.run([os.path.join(build, "l7tap"), "--help"], capture_output=True, text=True, timeout=30)
    return "--tls-capture" in out.stdout + out.stderr


def agent_args(args, has_tls_capture):
    """The arguments of a mode for this agent, or None if it cannot run the mode. An agent without
    --tls-capture has one mechanism, plaintext, and no keys mode."""
    if args is None or has_tls_capture:
        return args
    out, i = [], 0
    while i < len(args):
        if args[i] == "--tls-capture":
            if args[i + 1] != "plaintext":
                return None
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


def recorded(scheme, args):
    """Whether a traced mode records this scheme's transactions (HTTPS needs the syscall and the TLS probes)."""
    return args is not None and (scheme == "http" or not ({"--tls-probes", "--syscall-probes"} & set(args)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on %d" % port)


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out


def metric(samples, prefix):
    return sum(v for k, v in samples.items() if k == prefix or k.startswith(prefix + "{"))


class Agent:
    def __init__(self, build, args):
        self.port = free_port()
        # Its stderr is kept to say why it refused to start (an unknown flag, no root) or died in a run.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(pinned(1, [os.path.join(build, "l7tap"), "--listen", "127.0.0.1:%d" % self.port,
                                                *args]),
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("l7tap %s exited at start: %s" % (" ".join(args), self.stderr_tail()))
            try:
                if metric(scrape(self.port), "l7tap_ready") == 1:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError("l7tap not ready")

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0

    def stderr_tail(self, lines=3):
        self.log.seek(0)
        text = self.log.read().decode(errors="replace").strip().splitlines()
        return " / ".join(text[-lines:]) or "(nothing on stderr)"

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def wrk(url, seconds, connections, threads):
    """wrk's closed loop: requests sent, req/s, p50 and p99 latency in microseconds."""
    out = subprocess.run(pinned(0, ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--latency",
                                    "-s", os.path.join(HERE, "wrk_percentiles.lua"), url]),
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    lat = dict(re.findall(r"^l7tap-(p50|p99)-us (\d+)$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    return {"requests": requests, "rps": rps, "p50_us": float(lat["p50"]), "p99_us": float(lat["p99"]),
            "errors": errors.group(0) if errors else ""}


# Fixed-rate load on 4 connections: plain HTTP at the rate the goals name ("0 events lost at 20 000 requests/s");
# HTTPS at half that, since at 20 000 the TLS client and server alone nearly fill CPU 0 here and the open loop
# would measure queueing, not probes.
FIXED_RATE = {"http": 20000, "https": 10000}
FIXED_RATE_CONNECTIONS = 4
# keys mode's goal is 0 events lost at 20 000 HTTPS requests/s: one more fixed-rate HTTPS run at that rate, for
# keys and, to compare with, untraced and both (the achieved rate says whether CPU 0 kept up).
KEYS_RATE = 20000
KEYS_RATE_MODES = ("untraced", "both", "keys")


def fixed_rate(client, scheme, port, seconds, rate):
    """The fixture client's open loop: requests at evenly scheduled times; latency counts from the schedule."""
    argv = [client, "--port", str(port), "--mode", "rate", "--rate", str(rate), "--seconds", str(seconds),
            "--connections", str(FIXED_RATE_CONNECTIONS), "--path", "/work/0"]
    if scheme == "https":
        argv.append("--tls")
    out = subprocess.run(pinned(0, argv), capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError("http_client --mode rate failed: " + out.stderr.strip())
    r = json.loads(out.stdout)
    return {"requests": r["requests"], "rps": r["rate"], "p50_us": r["p50_us"], "p99_us": r["p99_us"],
            "errors": ""}


class GoServer:
    """The Go fixture server, HTTPS only, on CPU 0 like the other services; its port from its ready file."""

    def __init__(self, binary, tmp):
        ready = os.path.join(tmp, "go-ready")
        self.proc = subprocess.Popen(pinned(0, [binary, "-port", "-1", "-tls-port", "0", "-cert",
                                                os.path.join(tmp, "cert.pem"), "-key", os.path.join(tmp, "key.pem"),
                                                "-ready-file", ready]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.terminate()
                self.wait()
                raise RuntimeError("%s did not start" % binary)
            time.sleep(0.01)
        with open(ready) as f:
            self.port = int(dict(line.split() for line in f.read().splitlines())["https"])

    # The interface of subprocess.Popen that main's cleanup uses.
    def terminate(self):
        if self.proc.poll() is None:
            self.proc.terminate()

    def wait(self):
        return self.proc.wait()


def request_count(samples, family, port, version=None):
    """Observations of an HTTP histogram with server_port `port` (and network_protocol_version `version`, if
    given), all other labels summed."""
    return sum(v for k, v in samples.items() if k.startswith(family + "_count{") and 'server_port="%d"' % port in k
               and (version is None or 'network_protocol_version="%s"' % version in k))


def count_status(server, requests, client, in_flight):
    """exact: the agent counted the load generator's requests on both sides. in flight: its own side exactly,
    the server's side up to `in_flight` more (wrk stops with up to one request per connection unanswered, which
    the server did answer). mismatch: anything else."""
    if server == requests and client == requests:
        return "exact"
    if client == requests and requests < server <= requests + in_flight:
        return "in flight"
    return "mismatch"


def bpf_programs(pid):
    """{program id: (name, run count, run time ns)} of the BPF programs process `pid` holds (bpftool; the ids
    from its file descriptors, so another agent running on the machine is left out)."""
    mine = set()
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                mine.update(int(line.split()[1]) for line in f if line.startswith("prog_id:"))
        except OSError:
            pass
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True, check=True).stdout
    return {p["id"]: (p.get("name", "?"), p.get("run_cnt", 0), p.get("run_time_ns", 0)) for p in json.loads(out)
            if p["id"] in mine}


def where_time_goes(build, port, seconds, args):
    """One extra run, HTTPS, one connection, 0 us service time, with the kernel's BPF run-time statistics on
    (they cost two clock reads per program run, so the measured runs keep them off): what each program costs
    per request, and how many probe hits of each kind a request makes."""
    return bpf_breakdown(build, lambda: wrk("https://127.0.0.1:%d/work/0" % port, seconds, 1, 1), args)


def bpf_breakdown(build, load, args):
    """Runs `load` (returning at least "requests") under l7tap `args` with BPF run-time statistics on."""
    stats = "/proc/sys/kernel/bpf_stats_enabled"
    with open(stats) as f:
        was = f.read().strip()
    agent = Agent(build, args)
    try:
        with open(stats, "w") as f:
            f.write("1")
        before, hits0 = bpf_programs(agent.proc.pid), scrape(agent.port)
        r = load()
        time.sleep(0.2)
        after, hits1 = bpf_programs(agent.proc.pid), scrape(agent.port)
    finally:
        with open(stats, "w") as f:
            f.write(was)
        agent.stop()
    n = r["requests"]
    programs = []
    for pid, (name, cnt, ns) in after.items():
        cnt0, ns0 = before.get(pid, (name, 0, 0))[1:]
        if cnt - cnt0 > 0:
            programs.append({"name": name, "runs_per_request": (cnt - cnt0) / n,
                             "ns_per_run": (ns - ns0) / (cnt - cnt0), "ns_per_request": (ns - ns0) / n})
    programs.sort(key=lambda p: -p["ns_per_request"])
    hits = {k: (metric(hits1, 'l7tap_probe_hits_total{kind="%s"}' % k) -
                metric(hits0, 'l7tap_probe_hits_total{kind="%s"}' % k)) / n
            for k in ("emulated", "single_step", "uretprobe")}
    return {"requests": n, "p50_us": r["p50_us"], "programs": programs, "hits_per_request": hits}


# --- HTTP/2: h2load against nginx over TLS ---------------------------------------------------------------

NGINX_CONF = """{user}
worker_processes 1;
error_log {tmp}/nginx-error.log;
pid {tmp}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 100000000;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {tmp}/cert.pem;
    ssl_certificate_key {tmp}/key.pem;
    root {tmp}/www;
  }}
}}
"""

# (load, h2load connections, concurrent streams per connection, requests: quick, full)
H2_LOADS = [("latency", 1, 1, 5000, 20000), ("throughput", 4, 10, 20000, 100000)]
H2_MODES = [("untraced", None), ("both", PLAINTEXT), ("keys", KEYS)]


def start_nginx(tmp, port):
    """Debian's nginx, one worker, TLS and HTTP/2 on 127.0.0.1:port, serving a 612-byte index.html (the size
    of nginx's own welcome page)."""
    www = os.path.join(tmp, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        body = "<!DOCTYPE html>\n<html><head><title>l7tap h2 bench</title></head><body>\n"
        f.write(body + "x" * (612 - len(body) - len("</body></html>\n")) + "</body></html>\n")
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        # As root, nginx's worker would run as nobody, who cannot read the private temporary directory.
        f.write(NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "", tmp=tmp, port=port))
    proc = subprocess.Popen(pinned(0, ["nginx", "-e", os.path.join(tmp, "nginx-error.log"), "-p", tmp, "-c", conf,
                                       "-g", "daemon off;"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
    except TimeoutError:
        proc.terminate()
        proc.wait()
        raise
    return proc


def duration_us(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def h2load(url, requests, connections, streams, log):
    """h2load's closed loop over `connections` connections of `streams` concurrent streams each: requests
    done, req/s, mean request time (h2load's own), p50 and p99 from its per-request log (µs)."""
    argv = ["h2load", "-n", str(requests), "-c", str(connections), "-m", str(streams), "-t", "1",
            "--log-file", log, url]
    out = subprocess.run(pinned(0, argv), capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError("h2load failed: " + (out.stderr or out.stdout).strip()[-500:])
    text = out.stdout
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", text)
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text).group(1))
    mean = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
    with open(log) as f:
        durations = sorted(float(line.split("\t")[2]) for line in f if line.strip())
    os.unlink(log)
    return {"requests": int(done.group(4)), "failed": int(done.group(5)), "rps": rps,
            "mean_us": duration_us(mean.group(3)), "p50_us": percentile(durations, 0.50),
            "p99_us": percentile(durations, 0.99), "logged": len(durations)}


H2_SELF = ["l7tap_http2_connections_total", "l7tap_http2_streams_ended_early_total",
           "l7tap_http2_header_state_lost_total", "l7tap_http2_header_blocks_partial_total",
           "l7tap_http2_desyncs_total", "l7tap_http2_frames_unknown_stream_total",
           "l7tap_http2_protocol_errors_total", "l7tap_http_requests_lost_total"]


def agent_failure(mode, scheme, rep, error, agent=None):
    """A traced mode that could not be measured, for the output: why, in the agent's words if it has any."""
    why = str(error)
    if agent is not None:
        why += " (agent %s; its stderr: %s)" % ("still running" if agent.alive() else
                                                 "exited with %s" % agent.proc.returncode, agent.stderr_tail())
    print("overhead.py: mode %s (%s), repetition %d: %s; left out from here on" % (mode, scheme, rep, why),
          file=sys.stderr)
    return {"mode": mode, "scheme": scheme, "rep": rep, "error": why}


def other_agents(mine):
    """pids of l7tap agents not started here (other runs on this machine trace the benchmark too)."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) not in mine:
            try:
                with open("/proc/%s/comm" % pid) as f:
                    if f.read().strip() == "l7tap":
                        out.append(int(pid))
            except OSError:
                pass
    return out


def run_h2(build, tmp, reps, quick, modes, failures):
    """reps × `modes` (H2_MODES, those chosen) × H2_LOADS; the order of the modes alternates (A B, B A, ...) so
    drift cancels. Returns one dict per run, and the BPF programs' cost per request of one more traced latency
    run in mode both. A traced mode whose agent fails is reported in `failures` and left out from then on."""
    port = free_port()
    url = "https://127.0.0.1:%d/index.html" % port
    nginx = start_nginx(tmp, port)
    results = []
    breakdown = None
    try:
        # One connection first: TLS session set-up, nginx's first allocation and the page cache are warm.
        h2load(url, 200, 1, 1, os.path.join(tmp, "h2load-warmup.tsv"))
        for rep in range(reps):
            for name, args in (modes if rep % 2 == 0 else modes[::-1]):
                if any(f["mode"] == name and f["scheme"] == "h2" for f in failures):
                    continue
                agent = None
                try:
                    if args is not None:
                        agent = Agent(build, args)
                    for load, conns, streams, n_quick, n_full in H2_LOADS:
                        n = n_quick if quick else n_full
                        others = other_agents({agent.proc.pid} if agent else set())
                        before = scrape(agent.port) if agent else None
                        cpu0 = agent.cpu_seconds() if agent else 0
                        r = h2load(url, n, conns, streams, os.path.join(tmp, "h2load.tsv"))
                        if agent:
                            time.sleep(0.2)  # let the agent drain the ring buffer (it reads every 10 ms)
                            after = scrape(agent.port)
                            r["agent_cpu_s"] = agent.cpu_seconds() - cpu0
                            r["server_count"] = (
                                request_count(after, "http_server_request_duration_seconds", port, "2") -
                                request_count(before, "http_server_request_duration_seconds", port, "2"))
                            r["client_count"] = (
                                request_count(after, "http_client_request_duration_seconds", port, "2") -
                                request_count(before, "http_client_request_duration_seconds", port, "2"))
                            for key, family in (("transactions", "l7tap_transactions_total"),
                                                ("lost", "l7tap_events_lost_total")):
                                r[key] = metric(after, family) - metric(before, family)
                            r["http2_counters"] = {k: metric(after, k) - metric(before, k) for k in H2_SELF
                                                   if metric(after, k) - metric(before, k)}
                            r["probe_hits"] = {k: metric(after, 'l7tap_probe_hits_total{kind="%s"}' % k) -
                                               metric(before, 'l7tap_probe_hits_total{kind="%s"}' % k)
                                               for k in ("emulated", "single_step", "uretprobe")}
                            r["peak_rss_mib"] = agent.peak_rss_mib()
                        r.update(rep=rep, mode=name, load=load, connections=conns, streams=streams, sent=n,
                                 other_agents=len(others))
                        results.append(r)
                        print("rep %d %-9s h2    %-10s: mean %7.1f us  p50 %7.1f us  p99 %8.1f us  %8.0f req/s%s" %
                              (rep, name, load, r["mean_us"], r["p50_us"], r["p99_us"], r["rps"],
                               "  nginx side counted %d of %d" % (r["server_count"], r["requests"])
                               if agent else ""), file=sys.stderr)
                except (RuntimeError, OSError) as e:
                    if args is None:
                        raise  # the untraced baseline failed: nothing to compare with
                    failures.append(agent_failure(name, "h2", rep, e, agent))
                finally:
                    if agent:
                        agent.stop()
        # Where the traced latency run's time goes, as for HTTPS (BPF run-time statistics on).
        both = dict(modes).get("both")
        if both is not None:
            n = H2_LOADS[0][3] if quick else H2_LOADS[0][4]
            breakdown = bpf_breakdown(build, lambda: h2load(url, n, 1, 1, os.path.join(tmp, "h2load.tsv")), both)
    finally:
        nginx.terminate()
        nginx.wait()
    return results, breakdown


def summarize_h2(results):
    rows = []
    for load, conns, streams, _, _ in H2_LOADS:
        base = {r["rep"]: r for r in results if (r["load"], r["mode"]) == (load, "untraced")}
        for name, args in H2_MODES:
            runs = [r for r in results if (r["load"], r["mode"]) == (load, name)]
            if not runs:
                continue
            row = {"load": load, "connections": conns, "streams": streams, "mode": name,
                   "requests": med_range([r["requests"] for r in runs]),
                   "rps": med_range([r["rps"] for r in runs]), "mean_us": med_range([r["mean_us"] for r in runs]),
                   "p50_us": med_range([r["p50_us"] for r in runs]), "p99_us": med_range([r["p99_us"] for r in runs]),
                   "failed": sum(r["failed"] for r in runs),
                   "other_agents": max(r["other_agents"] for r in runs)}
            if args is not None:
                paired = [(r, base[r["rep"]]) for r in runs if r["rep"] in base]
                for key in ("rps", "mean_us", "p50_us", "p99_us"):
                    row[key.split("_")[0] + "_ratio"] = med_range([r[key] / b[key] for r, b in paired])
                row["added_mean_us"] = med_range([r["mean_us"] - b["mean_us"] for r, b in paired])
                row["agent_us_per_txn"] = med_range([1e6 * r["agent_cpu_s"] / r["transactions"]
                                                     for r in runs if r["transactions"] > 0])
                row["txn_per_request"] = med_range([r["transactions"] / r["requests"] for r in runs])
                row["hits_per_request"] = med_range([sum(r["probe_hits"].values()) / r["requests"] for r in runs])
                row["counts"] = [[int(r["server_count"]), r["requests"], int(r["client_count"])] for r in runs]
                row["exact"] = all(int(r["server_count"]) == r["requests"] for r in runs)
                row["lost"] = max(r["lost"] for r in runs)
                counters = {}
                for r in runs:
                    for k, v in r["http2_counters"].items():
                        counters[k] = counters.get(k, 0) + v
                row["http2_counters"] = counters
                row["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
            rows.append(row)
    return rows


def markdown_h2(h2):
    out = ["### HTTP/2 over TLS: h2load against nginx (%s, %s), %d repetitions\n" % (h2["nginx"], h2["h2load"],
                                                                                  h2["reps"])]
    out.append("| load | mode | requests | req/s | mean µs | p50 µs | p99 µs | req/s traced/untraced | "
               "mean traced/untraced | µs added (mean) | p50 traced/untraced | p99 traced/untraced | "
               "agent CPU µs/transaction | transactions/request | probe hits/request | "
               "nginx side: agent counted / h2load requests | events lost | agent peak RSS MiB |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in h2["rows"]:
        load = "%s (-c %d -m %d)" % (r["load"], r["connections"], r["streams"])
        counts = "–"
        if "counts" in r:
            if r["exact"] and len({tuple(c[:2]) for c in r["counts"]}) == 1:
                counts = "%d / %d in every run" % tuple(r["counts"][0][:2])
            else:
                counts = "; ".join("%d / %d" % (c[0], c[1]) for c in r["counts"])
                counts += "" if r["exact"] else " **not exact**"
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            load, r["mode"], fmt(r["requests"], "%.0f"), fmt(r["rps"], "%.0f"), fmt(r["mean_us"]), fmt(r["p50_us"]),
            fmt(r["p99_us"]), fmt(r.get("rps_ratio"), "%.3f"), fmt(r.get("mean_ratio"), "%.3f"),
            fmt(r.get("added_mean_us")), fmt(r.get("p50_ratio"), "%.3f"), fmt(r.get("p99_ratio"), "%.3f"),
            fmt(r.get("agent_us_per_txn")), fmt(r.get("txn_per_request"), "%.2f"),
            fmt(r.get("hits_per_request"), "%.1f"), counts,
            "–" if "lost" not in r else "%d" % r["lost"],
            "–" if "peak_rss_mib" not in r else "%.0f" % r["peak_rss_mib"]))
    out.append("")
    notes = []
    traced = [r for r in h2["rows"] if "counts" in r]
    if traced:
        notes.append("h2load's client side, also traced: %s HTTP/2 requests counted by the agent." % "; ".join(
            "%s %s %s" % (r["load"], r["mode"], ", ".join(str(c[2]) for c in r["counts"])) for r in traced))
    counters = {}
    for r in traced:
        for k, v in r["http2_counters"].items():
            counters[k] = counters.get(k, 0) + v
    if counters:
        notes.append("HTTP/2 self-metrics over the traced runs: " +
                     ", ".join("%s %d" % (k, v) for k, v in sorted(counters.items())) + ".")
    failed = sum(r["failed"] for r in h2["rows"])
    if failed:
        notes.append("h2load reported %d failed requests." % failed)
    others = max((r["other_agents"] for r in h2["rows"]), default=0)
    if others:
        notes.append("Other l7tap agents were running on the machine during these runs (up to %d): they trace "
                     "nginx and h2load too, untraced runs included." % others)
    if notes:
        out.append(" ".join(notes) + "\n")
    b = h2.get("breakdown")
    if b:
        out.append("### Where the time goes: HTTP/2 over TLS, mode both, one connection, one stream at a time "
                   "(BPF run-time statistics on, %d requests, p50 %.0f µs)\n" % (b["requests"], b["p50_us"]))
        out.extend(breakdown_table(b))
    return "\n".join(out)


def tool_version(argv, pattern):
    out = subprocess.run(argv, capture_output=True, text=True)
    m = re.search(pattern, out.stdout + out.stderr)
    return m.group(0) if m else argv[0]


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // (1024 * 1024)
    return {"kernel": os.uname().release, "cpu": model, "cores": os.cpu_count(), "memory_gib": mem,
            "kprobes": os.path.exists("/sys/bus/event_source/devices/kprobe")}


def traced_fields(agent, before, after, cpu0):
    """What a traced run cost the agent and what it recorded, from its /metrics before and after the run."""
    def delta(family):
        return metric(after, family) - metric(before, family)

    hits = {k: delta('l7tap_probe_hits_total{kind="%s"}' % k) for k in ("emulated", "single_step", "uretprobe")}
    return {"agent_cpu_s": agent.cpu_seconds() - cpu0, "transactions": delta("l7tap_transactions_total"),
            "lost": delta("l7tap_events_lost_total"), "probe_hits": hits, "single_step_hits": hits["single_step"],
            "tls_probes_attached": metric(after, "l7tap_tls_probes_attached"), "peak_rss_mib": agent.peak_rss_mib()}


def run_http1(build, tmp, schemes, modes, reps, seconds, service_us, failures):
    """reps × `modes` (resolved MODES of `schemes`) × each scheme's loads (all HTTP/1.1) against the fixture
    server (http, https) and the Go fixture server (go), all running while the repetitions go on. Returns one
    dict per run, the backend the agent chose, and where the time goes in modes both and keys ({mode: it})."""
    procs = []
    ports = {}
    results = []
    backend = None
    server_bin = os.path.join(build, "fixtures", "http_server")
    client_bin = os.path.join(build, "fixtures", "http_client")
    keys_rate = any(name == "keys" and scheme == "https" for name, scheme, _ in modes)
    try:
        if "http" in schemes:
            ports["http"] = free_port()
            procs.append(subprocess.Popen(pinned(0, [server_bin, "--port", str(ports["http"])]),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if "https" in schemes:
            ports["https"] = free_port()
            procs.append(subprocess.Popen(pinned(0, [server_bin, "--port", str(ports["https"]), "--tls", "--cert",
                                                     os.path.join(tmp, "cert.pem"), "--key",
                                                     os.path.join(tmp, "key.pem")]),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for scheme in ("http", "https"):
            if scheme in ports:
                wait_port(ports[scheme])
        if "go" in schemes:
            go = GoServer(os.path.join(build, "fixtures", "go", GO_SERVER), tmp)
            procs.append(go)
            ports["go"] = go.port
            # The Go runtime's first second (heap growth, TLS session state) stays out of the first measured run.
            wrk("https://127.0.0.1:%d/" % go.port, 1, 8, 2)

        def loads(name, scheme):
            """(load, service time µs, connections, wrk threads, fixed rate or 0 for wrk's closed loop)"""
            if scheme == "go":
                # The Go fixture has no service-time knob: "/" answers at once.
                return [("latency", 0, 1, 1, 0), ("throughput", 0, 8, 2, 0)]
            out = ([("latency", st, 1, 1, 0) for st in service_us] + [("throughput", 0, 8, 2, 0)] +
                   [("rate", 0, FIXED_RATE_CONNECTIONS, 0, FIXED_RATE[scheme])])
            if scheme == "https" and keys_rate and name in KEYS_RATE_MODES:
                out.append(("rate", 0, FIXED_RATE_CONNECTIONS, 0, KEYS_RATE))
            return out

        for rep in range(reps):
            for name, scheme, args in modes:
                if any((f["mode"], f["scheme"]) == (name, scheme) for f in failures):
                    continue
                agent = None
                try:
                    if args is not None:
                        agent = Agent(build, args)
                    if agent and backend is None and "--syscall-probes" not in args:
                        s = scrape(agent.port)
                        backend = next((k.split('"')[1] for k in s if k.startswith("l7tap_syscall_backend_info")),
                                       "unknown")
                    for load, st, conns, threads, rate in loads(name, scheme):
                        port = ports[scheme]
                        if scheme == "go":
                            url = "https://127.0.0.1:%d/" % port
                        else:
                            url = "%s://127.0.0.1:%d/work/%d" % (scheme, port, st)
                        before = scrape(agent.port) if agent else None
                        cpu0 = agent.cpu_seconds() if agent else 0
                        if load == "rate":
                            r = fixed_rate(client_bin, scheme, port, seconds, rate)
                            r["target_rps"] = rate
                        else:
                            r = wrk(url, seconds, conns, threads)
                        counted = ""
                        if agent:
                            time.sleep(0.2)  # let the agent drain the ring buffer (it reads every 10 ms)
                            after = scrape(agent.port)
                            r.update(traced_fields(agent, before, after, cpu0))
                            if recorded(scheme, args):
                                for side in ("server", "client"):
                                    family = "http_%s_request_duration_seconds" % side
                                    r[side + "_count"] = (request_count(after, family, port) -
                                                          request_count(before, family, port))
                                # The fixture client reads every answer; wrk stops with one request per
                                # connection possibly unanswered.
                                r["in_flight_max"] = 0 if load == "rate" else conns
                                r["count_status"] = count_status(r["server_count"], r["requests"],
                                                                 r["client_count"], r["in_flight_max"])
                                counted = "  server side counted %d of %d, client side %d%s" % (
                                    r["server_count"], r["requests"], r["client_count"],
                                    "" if r["count_status"] == "exact" else " (%s)" % r["count_status"])
                        r.update(rep=rep, mode=name, scheme=scheme, load=load, service_us=st, connections=conns)
                        results.append(r)
                        print("rep %d %-9s %-5s %-10s %5d us: p50 %8.1f us  p99 %8.1f us  %8.0f req/s%s%s" %
                              (rep, name, scheme, load if not rate else "rate %d" % rate, st, r["p50_us"],
                               r["p99_us"], r["rps"], "  lost %d" % r["lost"] if agent else "", counted),
                              file=sys.stderr)
                except (RuntimeError, OSError) as e:
                    if args is None:
                        raise  # the untraced baseline failed: nothing to compare with
                    failures.append(agent_failure(name, scheme, rep, e, agent))
                finally:
                    if agent:
                        agent.stop()
        # Where an HTTPS request's traced time goes, plaintext and keys (BPF run-time statistics on).
        breakdowns = {}
        for name, scheme, args in modes:
            if scheme == "https" and name in ("both", "keys") and not any(
                    (f["mode"], f["scheme"]) == (name, scheme) for f in failures):
                try:
                    breakdowns[name] = where_time_goes(build, ports["https"], seconds, args)
                except (RuntimeError, OSError) as e:
                    failures.append(agent_failure(name, "https breakdown", reps, e))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    return results, backend, breakdowns


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json")
    p.add_argument("--only", metavar="ROWS",
                   help="comma-separated, of http1 (the fixture server under wrk and the fixture client), "
                        "go (the Go fixture server under wrk), h2 (h2load against nginx); default all")
    p.add_argument("--modes", metavar="MODES",
                   help="comma-separated traced modes, of " + ", ".join(n for n in MODE_NAMES if n != "untraced") +
                        " (untraced always runs: the ratios need it); default all")
    a = p.parse_args()
    only = set((a.only or "http1,go,h2").split(","))
    if not only or only - {"http1", "go", "h2"}:
        p.error("--only: expected a comma-separated list of http1, go, h2")
    chosen = set((a.modes or ",".join(MODE_NAMES)).split(",")) | {"untraced"}
    if chosen - set(MODE_NAMES):
        p.error("--modes: unknown %s (expected some of %s)" % (", ".join(sorted(chosen - set(MODE_NAMES))),
                                                              ", ".join(MODE_NAMES)))
    if os.geteuid() != 0:
        sys.exit("overhead.py: run as root (l7tap loads BPF programs)")
    run_http2 = "h2" in only
    schemes = (["http", "https"] if "http1" in only else []) + (["go"] if "go" in only else [])
    if schemes and not shutil.which("wrk"):
        sys.exit("overhead.py: wrk is missing (make deps installs it)")
    if "go" in schemes and not os.access(os.path.join(a.build, "fixtures", "go", GO_SERVER), os.X_OK):
        if only == {"go"}:
            sys.exit("overhead.py: no %s in %s/fixtures/go (make build builds it)" % (GO_SERVER, a.build))
        print("overhead.py: no %s, no Go rows" % GO_SERVER, file=sys.stderr)
        schemes.remove("go")
    missing = [t for t in ("nginx", "h2load") if not shutil.which(t)]
    if run_http2 and missing:
        if only == {"h2"}:
            sys.exit("overhead.py: %s missing (make deps installs nginx-light and nghttp2-client)" %
                     " and ".join(missing))
        print("overhead.py: %s missing, no HTTP/2 rows" % " and ".join(missing), file=sys.stderr)
        run_http2 = False
    has_tls_capture = tls_capture_flag(a.build)
    unavailable = sorted({name for name, _, args in MODES if name in chosen and args is not None and
                          agent_args(args, has_tls_capture) is None})
    if unavailable:
        print("overhead.py: this l7tap has no --tls-capture: no %s rows" % ", ".join(unavailable), file=sys.stderr)
    reps = 2 if a.quick else 5
    seconds = 1 if a.quick else 3
    service_us = [0, 1000] if a.quick else [0, 100, 1000, 10000]
    # QUICK leaves out the placement comparison (both-entry) to stay within a few minutes.
    modes = [(name, scheme, agent_args(args, has_tls_capture)) for name, scheme, args in MODES
             if scheme in schemes and name in chosen and name not in unavailable and
             not (a.quick and name == "both-entry")]
    # A scheme with no traced mode left has nothing to compare its untraced runs with.
    traced = {scheme for _, scheme, args in modes if args is not None}
    modes = [m for m in modes if m[1] in traced]
    schemes = [scheme for scheme in schemes if scheme in traced]
    h2_modes = [(name, agent_args(args, has_tls_capture)) for name, args in H2_MODES
                if name in chosen and name not in unavailable]
    if len(h2_modes) < 2:
        run_http2 = False

    tmp = tempfile.mkdtemp(prefix="l7tap-bench-")
    results = []  # one dict per (rep, mode, load, service time)
    failures = []  # traced modes that could not be measured, and why
    backend, breakdown, breakdown_keys, h2 = None, None, None, None
    try:
        subprocess.run(["bash", os.path.join(ROOT, "fixtures", "make_cert.sh"), tmp], check=True,
                       capture_output=True)
        if modes:
            results, backend, breakdowns = run_http1(a.build, tmp, schemes, modes, reps, seconds, service_us,
                                                     failures)
            breakdown, breakdown_keys = breakdowns.get("both"), breakdowns.get("keys")
        if run_http2:
            h2_reps = 3 if a.quick else 5
            h2_runs, h2_breakdown = run_h2(a.build, tmp, h2_reps, a.quick, h2_modes, failures)
            h2 = {"reps": h2_reps, "nginx": tool_version(["nginx", "-v"], r"nginx/[\d.]+"),
                  "h2load": tool_version(["h2load", "--version"], r"nghttp2/[\d.]+"),
                  "rows": summarize_h2(h2_runs), "raw": h2_runs, "breakdown": h2_breakdown}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    summary = summarize(results)
    report = {"machine": machine(), "backend": backend or "unknown", "reps": reps, "seconds": seconds,
              "tls_capture_flag": has_tls_capture, "modes_unavailable": unavailable, "failures": failures,
              "fixed_rate": FIXED_RATE, "keys_rate": KEYS_RATE, "go_server": GO_SERVER,
              "rows": summary, "raw": results, "breakdown": breakdown, "breakdown_keys": breakdown_keys, "h2": h2}
    print(markdown(report))
    for r in (h2 or {}).get("rows", []):
        if "exact" in r and not r["exact"]:
            print("overhead.py: HTTP/2 %s, mode %s: the agent's count on nginx's side differs from h2load's: %s" %
                  (r["load"], r["mode"], r["counts"]), file=sys.stderr)
    for r in summary:
        if r.get("count_status") == "mismatch":
            print("overhead.py: %s %s%s, mode %s: the agent's counts differ from the load generator's "
                  "(server side, requests, client side per run): %s" % (
                      r["scheme"], r["load"], " %d" % r["target_rps"] if r["target_rps"] else "", r["mode"],
                      r["counts"]), file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


def med_range(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


COUNT_ORDER = ["exact", "in flight", "mismatch"]


def summarize(results):
    rows = []
    keys = sorted({(r["scheme"], r["load"], r["service_us"], r.get("target_rps", 0)) for r in results})
    for scheme, load, st, target in keys:
        def same(r, mode):
            return (r["scheme"], r["load"], r["service_us"], r.get("target_rps", 0), r["mode"]) == (
                scheme, load, st, target, mode)

        base = {r["rep"]: r for r in results if same(r, "untraced")}
        for name, mscheme, args in MODES:
            if mscheme != scheme:
                continue
            runs = [r for r in results if same(r, name)]
            if not runs:
                continue
            row = {"scheme": scheme, "load": load, "service_us": st, "target_rps": target, "mode": name,
                   "p50_us": med_range([r["p50_us"] for r in runs]), "p99_us": med_range([r["p99_us"] for r in runs]),
                   "rps": med_range([r["rps"] for r in runs])}
            if args is not None:
                row["p50_ratio"] = med_range([r["p50_us"] / base[r["rep"]]["p50_us"] for r in runs if r["rep"] in base])
                row["added_us"] = med_range([r["p50_us"] - base[r["rep"]]["p50_us"] for r in runs if r["rep"] in base])
                row["rps_ratio"] = med_range([r["rps"] / base[r["rep"]]["rps"] for r in runs if r["rep"] in base])
                # Whenever the agent recorded anything: a mode that records too little must show its cost too.
                row["agent_us_per_txn"] = med_range([1e6 * r["agent_cpu_s"] / r["transactions"]
                                                     for r in runs if r["transactions"] > 0])
                row["txn_per_request"] = med_range([r["transactions"] / r["requests"] for r in runs])
                row["lost"] = max(r["lost"] for r in runs)
                row["single_step_per_request"] = med_range([r["single_step_hits"] / r["requests"] for r in runs])
                row["hits_per_request"] = med_range([sum(r["probe_hits"].values()) / r["requests"] for r in runs])
                row["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
                counted = [r for r in runs if "count_status" in r]
                if counted:
                    row["counts"] = [[int(r["server_count"]), r["requests"], int(r["client_count"])] for r in counted]
                    row["count_status"] = max((r["count_status"] for r in counted), key=COUNT_ORDER.index)
                    row["in_flight_max"] = max(r["in_flight_max"] for r in counted)
            rows.append(row)
    return rows


def counts_cell(r):
    """The agent's counts against the load generator's, in a table cell."""
    if "counts" not in r:
        return "–"
    if r["count_status"] == "exact":
        return "exact in every run"
    surplus = [c[0] - c[1] for c in r["counts"]]
    if r["count_status"] == "in flight":
        return "client side exact; server side +%d–+%d (≤ %d in flight)" % (min(surplus), max(surplus),
                                                                          r["in_flight_max"])
    return "**mismatch**: " + "; ".join("%d/%d/%d" % tuple(c) for c in r["counts"])


def fmt(v, spec="%.1f"):
    if v is None:
        return "–"
    return (spec % v["median"]) + " (" + (spec % v["min"]) + "–" + (spec % v["max"]) + ")"


def breakdown_table(b):
    h = b["hits_per_request"]
    out = ["Probe hits per request (both sides): %.2f emulated, %.2f single-stepped, %.2f uretprobe "
           "returns.\n" % (h["emulated"], h["single_step"], h["uretprobe"])]
    out.append("| BPF program | runs/request | ns/run | ns/request |")
    out.append("|---|---:|---:|---:|")
    for p in [p for p in b["programs"] if p["ns_per_request"] >= 1]:  # connection set-up etc. left out
        out.append("| %s | %.2f | %.0f | %.0f |" % (p["name"], p["runs_per_request"], p["ns_per_run"],
                                                  p["ns_per_request"]))
    out.append("| **all** | | | **%.0f** |" % sum(p["ns_per_request"] for p in b["programs"]))
    out.append("")
    return out


def scheme_title(report, scheme):
    title = SCHEME_TITLE[scheme]
    return title % report.get("go_server", GO_SERVER) if "%s" in title else title


def markdown(report):
    out = []
    for scheme in ("http", "https", "go"):
        sections = sorted({(r["load"], r.get("target_rps", 0)) for r in report["rows"] if r["scheme"] == scheme},
                          key=lambda k: (["latency", "throughput", "rate"].index(k[0]), k[1]))
        for load, target in sections:
            rows = [r for r in report["rows"] if r["scheme"] == scheme and (r["load"], r.get("target_rps", 0)) ==
                    (load, target)]
            title = {"latency": "%s, one connection (closed loop): latency by service time",
                     "throughput": "%s, 8 connections at full speed: throughput",
                     "rate": "%s, " + "{:,}".format(target).replace(",", " ") + " requests/s on " +
                             str(FIXED_RATE_CONNECTIONS) + " connections (open loop, fixture client): "
                             "latency from the scheduled send"}[load] % scheme_title(report, scheme)
            if scheme == "go" and load == "latency":
                title += " (GET /, which has no service time)"
            out.append("### " + title + "\n")
            out.append("| service time | mode | p50 µs | p99 µs | req/s | p50 traced/untraced | µs added (p50) | "
                       "req/s traced/untraced | agent CPU µs/transaction | transactions/request | events lost | "
                       "probe hits/request | single-step hits/request | agent's count: server side / requests "
                       "/ client side | agent peak RSS MiB |")
            out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for r in rows:
                st = "%d µs" % r["service_us"]
                out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    st, r["mode"], fmt(r["p50_us"]), fmt(r["p99_us"]), fmt(r["rps"], "%.0f"),
                    fmt(r.get("p50_ratio"), "%.3f"), fmt(r.get("added_us")), fmt(r.get("rps_ratio"), "%.3f"),
                    fmt(r.get("agent_us_per_txn")), fmt(r.get("txn_per_request"), "%.2f"),
                    "–" if "lost" not in r else "%d" % r["lost"], fmt(r.get("hits_per_request"), "%.1f"),
                    fmt(r.get("single_step_per_request"), "%.1f"), counts_cell(r),
                    "–" if "peak_rss_mib" not in r else "%.0f" % r["peak_rss_mib"]))
            out.append("")
    if any(r.get("count_status") == "in flight" for r in report["rows"]):
        out.append("Counts: wrk stops with up to one request per connection sent but not answered yet; the server "
                   "answered it, so the agent's server-side count may exceed wrk's by up to the connection count, "
                   "while wrk's own side (its libssl is traced too) must match exactly.\n")
    notes = []
    if report.get("modes_unavailable"):
        notes.append("This l7tap has no `--tls-capture`: no rows for %s; mode both ran with the agent's only TLS "
                     "mechanism, plaintext uprobes." % ", ".join(report["modes_unavailable"]))
    for f in report.get("failures", []):
        notes.append("Mode %s (%s) failed in repetition %d and was left out from there: %s." % (
            f["mode"], f["scheme"], f["rep"], f["error"]))
    if notes:
        out.append(" ".join(notes) + "\n")
    for key, mode in (("breakdown", "both"), ("breakdown_keys", "keys")):
        b = report.get(key)
        if b:
            out.append("### Where the time goes: HTTPS, mode %s, one connection, 0 µs service time (BPF run-time "
                       "statistics on, %d requests)\n" % (mode, b["requests"]))
            out.extend(breakdown_table(b))
    if report.get("h2"):
        out.append(markdown_h2(report["h2"]))
    return "\n".join(out)


if __name__ == "__main__":
    main()
