#!/usr/bin/env python3
"""What tracing costs a traced service: the fixture HTTP/HTTPS server (fixtures/http_server, dynamic libssl)
with a configurable service time, driven over loopback by wrk (closed loop: latency on one connection,
throughput on 8) and by the fixture client at a fixed rate (open loop), untraced and under l7tap in several probe
configurations. Modes are interleaved (A B A B ...) so machine drift cancels; every figure is the median over
the repetitions, ratios are taken within one repetition (traced / untraced) before the median.

HTTP/2: h2load (Debian's nghttp2-client, on the system libssl) against Debian's nginx over TLS (`ssl http2`,
ALPN h2) on loopback, untraced and traced (l7tap's defaults) in the same run: one connection with one stream
at a time (latency) and 4 connections with 10 concurrent streams each (throughput), a fixed request count each;
every traced run checks that the agent counted exactly that many HTTP/2 requests on nginx's side.

  overhead.py [--build DIR] [--quick] [--json FILE] [--only http1|h2]

--only h2 runs only the HTTP/2 rows (about a minute with --quick); --only http1 leaves them out.

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

# (name, scheme, l7tap arguments or None for untraced). "tls-only" measures what the TLS uprobes cost, nothing
# more: OpenSSL's socket is named by the syscall probes, so without them its plaintext is dropped (counted as
# lost, tls_no_connection). "both" is how l7tap runs; "both-entry" the same with --probe-placement=entry.
MODES = [
    ("untraced", "http", None),
    ("syscalls", "http", ["--tls-probes", "off"]),
    ("untraced", "https", None),
    ("syscalls", "https", ["--tls-probes", "off"]),
    ("tls-only", "https", ["--syscall-probes", "off"]),
    ("both", "https", []),
    ("both-entry", "https", ["--probe-placement", "entry"]),
]


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
        self.proc = subprocess.Popen(pinned(1, [os.path.join(build, "l7tap"), "--listen", "127.0.0.1:%d" % self.port,
                                                *args]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("l7tap exited at start (run as root)")
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

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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


def fixed_rate(client, scheme, port, seconds):
    """The fixture client's open loop: requests at evenly scheduled times; latency counts from the schedule."""
    argv = [client, "--port", str(port), "--mode", "rate", "--rate", str(FIXED_RATE[scheme]), "--seconds", str(seconds),
            "--connections", str(FIXED_RATE_CONNECTIONS), "--path", "/work/0"]
    if scheme == "https":
        argv.append("--tls")
    out = subprocess.run(pinned(0, argv), capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError("http_client --mode rate failed: " + out.stderr.strip())
    r = json.loads(out.stdout)
    return {"requests": r["requests"], "rps": r["rate"], "p50_us": r["p50_us"], "p99_us": r["p99_us"],
            "errors": ""}


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


def where_time_goes(build, port, seconds):
    """One extra run, mode both, HTTPS, one connection, 0 us service time, with the kernel's BPF run-time
    statistics on (they cost two clock reads per program run, so the measured runs keep them off): what each
    program costs per request, and how many probe hits of each kind a request makes."""
    return bpf_breakdown(build, lambda: wrk("https://127.0.0.1:%d/work/0" % port, seconds, 1, 1))


def bpf_breakdown(build, load):
    """Runs `load` (returning at least "requests") under l7tap's defaults with BPF run-time statistics on."""
    stats = "/proc/sys/kernel/bpf_stats_enabled"
    with open(stats) as f:
        was = f.read().strip()
    agent = Agent(build, [])
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
H2_MODES = [("untraced", None), ("both", [])]


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


def h2_count(samples, family, port):
    """Observations of an HTTP histogram over HTTP/2 with server_port `port`, all other labels summed."""
    return sum(v for k, v in samples.items() if k.startswith(family + "_count{") and
               'network_protocol_version="2"' in k and 'server_port="%d"' % port in k)


H2_SELF = ["l7tap_http2_connections_total", "l7tap_http2_streams_ended_early_total",
           "l7tap_http2_header_state_lost_total", "l7tap_http2_header_blocks_partial_total",
           "l7tap_http2_desyncs_total", "l7tap_http2_frames_unknown_stream_total",
           "l7tap_http2_protocol_errors_total", "l7tap_http_requests_lost_total"]


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


def run_h2(build, tmp, reps, quick):
    """reps × (untraced, traced) × H2_LOADS; the order of the modes alternates (A B, B A, ...) so drift
    cancels. Returns one dict per run, and the BPF programs' cost per request of one more traced latency run."""
    port = free_port()
    url = "https://127.0.0.1:%d/index.html" % port
    nginx = start_nginx(tmp, port)
    results = []
    try:
        # One connection first: TLS session set-up, nginx's first allocation and the page cache are warm.
        h2load(url, 200, 1, 1, os.path.join(tmp, "h2load-warmup.tsv"))
        for rep in range(reps):
            modes = H2_MODES if rep % 2 == 0 else H2_MODES[::-1]
            for name, args in modes:
                agent = Agent(build, args) if args is not None else None
                try:
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
                            r["server_count"] = (h2_count(after, "http_server_request_duration_seconds", port) -
                                                 h2_count(before, "http_server_request_duration_seconds", port))
                            r["client_count"] = (h2_count(after, "http_client_request_duration_seconds", port) -
                                                 h2_count(before, "http_client_request_duration_seconds", port))
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
                finally:
                    if agent:
                        agent.stop()
        # Where the traced latency run's time goes, as for HTTPS (BPF run-time statistics on).
        n = H2_LOADS[0][3] if quick else H2_LOADS[0][4]
        breakdown = bpf_breakdown(build, lambda: h2load(url, n, 1, 1, os.path.join(tmp, "h2load.tsv")))
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
            "%s %s" % (r["load"], ", ".join(str(c[2]) for c in r["counts"])) for r in traced))
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
    return {"kernel": os.uname().release, "cpu": model, "cores": os.cpu_count(), "memory_gib": mem}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json")
    p.add_argument("--only", choices=["http1", "h2"], help="only the HTTP/1 (wrk) or the HTTP/2 (h2load) rows")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("overhead.py: run as root (l7tap loads BPF programs)")
    run_http1, run_http2 = a.only != "h2", a.only != "http1"
    if run_http1 and not shutil.which("wrk"):
        sys.exit("overhead.py: wrk is missing (make deps installs it)")
    missing = [t for t in ("nginx", "h2load") if not shutil.which(t)]
    if run_http2 and missing:
        if a.only == "h2":
            sys.exit("overhead.py: %s missing (make deps installs nginx-light and nghttp2-client)" %
                     " and ".join(missing))
        print("overhead.py: %s missing, no HTTP/2 rows" % " and ".join(missing), file=sys.stderr)
        run_http2 = False
    reps = 2 if a.quick else 5
    seconds = 1 if a.quick else 3
    service_us = [0, 1000] if a.quick else [0, 100, 1000, 10000]

    tmp = tempfile.mkdtemp(prefix="l7tap-bench-")
    servers = []
    results = []  # one dict per (rep, mode, load, service time)
    backend, breakdown, h2 = None, None, None
    try:
        subprocess.run(["bash", os.path.join(ROOT, "fixtures", "make_cert.sh"), tmp], check=True,
                       capture_output=True)
        if run_http1:
            server_bin = os.path.join(a.build, "fixtures", "http_server")
            client_bin = os.path.join(a.build, "fixtures", "http_client")
            ports = {"http": free_port(), "https": free_port()}
            servers.append(subprocess.Popen(pinned(0, [server_bin, "--port", str(ports["http"])]),
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            servers.append(subprocess.Popen(pinned(0, [server_bin, "--port", str(ports["https"]), "--tls", "--cert",
                                                       os.path.join(tmp, "cert.pem"), "--key",
                                                       os.path.join(tmp, "key.pem")]),
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for port in ports.values():
                wait_port(port)
            for rep in range(reps):
                # QUICK leaves out the placement comparison (both-entry) to stay within two minutes.
                for name, scheme, args in [m for m in MODES if not (a.quick and m[0] == "both-entry")]:
                    agent = Agent(a.build, args) if args is not None else None
                    try:
                        if agent and backend is None and "--syscall-probes" not in args:
                            s = scrape(agent.port)
                            backend = next((k.split('"')[1] for k in s if k.startswith("l7tap_syscall_backend_info")),
                                           "unknown")
                        loads = ([("latency", st, 1, 1) for st in service_us] + [("throughput", 0, 8, 2)] +
                                 [("rate", 0, FIXED_RATE_CONNECTIONS, 0)])
                        for load, st, conns, threads in loads:
                            url = "%s://127.0.0.1:%d/work/%d" % (scheme, ports[scheme], st)
                            before = scrape(agent.port) if agent else None
                            cpu0 = agent.cpu_seconds() if agent else 0
                            if load == "rate":
                                r = fixed_rate(client_bin, scheme, ports[scheme], seconds)
                            else:
                                r = wrk(url, seconds, conns, threads)
                            if agent:
                                time.sleep(0.2)  # let the agent drain the ring buffer (it reads every 10 ms)
                                after = scrape(agent.port)
                                r["agent_cpu_s"] = agent.cpu_seconds() - cpu0
                                r["transactions"] = (metric(after, "l7tap_transactions_total") -
                                                     metric(before, "l7tap_transactions_total"))
                                r["lost"] = (metric(after, "l7tap_events_lost_total") -
                                             metric(before, "l7tap_events_lost_total"))
                                r["single_step_hits"] = (
                                    metric(after, 'l7tap_probe_hits_total{kind="single_step"}') -
                                    metric(before, 'l7tap_probe_hits_total{kind="single_step"}'))
                                r["peak_rss_mib"] = agent.peak_rss_mib()
                            r.update(rep=rep, mode=name, scheme=scheme, load=load, service_us=st)
                            results.append(r)
                            print("rep %d %-9s %-5s %-10s %5d us: p50 %8.1f us  p99 %8.1f us  %8.0f req/s" %
                                  (rep, name, scheme, load, st, r["p50_us"], r["p99_us"], r["rps"]), file=sys.stderr)
                    finally:
                        if agent:
                            agent.stop()
            breakdown = where_time_goes(a.build, ports["https"], seconds)
        if run_http2:
            h2_reps = 3 if a.quick else 5
            h2_runs, h2_breakdown = run_h2(a.build, tmp, h2_reps, a.quick)
            h2 = {"reps": h2_reps, "nginx": tool_version(["nginx", "-v"], r"nginx/[\d.]+"),
                  "h2load": tool_version(["h2load", "--version"], r"nghttp2/[\d.]+"),
                  "rows": summarize_h2(h2_runs), "raw": h2_runs, "breakdown": h2_breakdown}
    finally:
        for s in servers:
            s.terminate()
            s.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    summary = summarize(results)
    report = {"machine": machine(), "backend": backend or "unknown", "reps": reps, "seconds": seconds,
              "rows": summary, "raw": results, "breakdown": breakdown, "h2": h2}
    print(markdown(report))
    for r in (h2 or {}).get("rows", []):
        if "exact" in r and not r["exact"]:
            print("overhead.py: HTTP/2 %s: the agent's count on nginx's side differs from h2load's: %s" %
                  (r["load"], r["counts"]), file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


def med_range(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(results):
    rows = []
    keys = sorted({(r["scheme"], r["load"], r["service_us"]) for r in results})
    for scheme, load, st in keys:
        base = {r["rep"]: r for r in results if (r["scheme"], r["load"], r["service_us"], r["mode"]) ==
                (scheme, load, st, "untraced")}
        for name, mscheme, args in MODES:
            if mscheme != scheme:
                continue
            runs = [r for r in results if (r["scheme"], r["load"], r["service_us"], r["mode"]) == (scheme, load, st, name)]
            if not runs:
                continue
            row = {"scheme": scheme, "load": load, "service_us": st, "mode": name,
                   "p50_us": med_range([r["p50_us"] for r in runs]), "p99_us": med_range([r["p99_us"] for r in runs]),
                   "rps": med_range([r["rps"] for r in runs])}
            if args is not None:
                row["p50_ratio"] = med_range([r["p50_us"] / base[r["rep"]]["p50_us"] for r in runs if r["rep"] in base])
                row["added_us"] = med_range([r["p50_us"] - base[r["rep"]]["p50_us"] for r in runs if r["rep"] in base])
                row["rps_ratio"] = med_range([r["rps"] / base[r["rep"]]["rps"] for r in runs if r["rep"] in base])
                row["agent_us_per_txn"] = med_range([1e6 * r["agent_cpu_s"] / r["transactions"]
                                                     for r in runs if r.get("transactions", 0) >= r["requests"]])
                row["txn_per_request"] = med_range([r["transactions"] / r["requests"] for r in runs])
                row["lost"] = max(r["lost"] for r in runs)
                row["single_step_per_request"] = med_range([r["single_step_hits"] / r["requests"] for r in runs])
                row["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
            rows.append(row)
    return rows


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


def markdown(report):
    out = []
    for scheme in ("http", "https"):
        for load in ("latency", "throughput", "rate"):
            rows = [r for r in report["rows"] if r["scheme"] == scheme and r["load"] == load]
            if not rows:
                continue
            title = {"latency": "%s, one connection (closed loop): latency by service time",
                     "throughput": "%s, 8 connections at full speed: throughput",
                     "rate": "%s, " + "{:,}".format(FIXED_RATE[scheme]).replace(",", " ") + " requests/s on " +
                             str(FIXED_RATE_CONNECTIONS) + " connections (open loop, fixture client): "
                             "latency from the scheduled send"}[load] % scheme.upper()
            out.append("### " + title + "\n")
            out.append("| service time | mode | p50 µs | p99 µs | req/s | p50 traced/untraced | µs added (p50) | "
                       "req/s traced/untraced | agent CPU µs/transaction | transactions/request | events lost | "
                       "single-step hits/request | agent peak RSS MiB |")
            out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for r in rows:
                st = "%d µs" % r["service_us"]
                out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    st, r["mode"], fmt(r["p50_us"]), fmt(r["p99_us"]), fmt(r["rps"], "%.0f"),
                    fmt(r.get("p50_ratio"), "%.3f"), fmt(r.get("added_us")), fmt(r.get("rps_ratio"), "%.3f"),
                    fmt(r.get("agent_us_per_txn")), fmt(r.get("txn_per_request"), "%.2f"),
                    "–" if "lost" not in r else "%d" % r["lost"], fmt(r.get("single_step_per_request"), "%.1f"),
                    "–" if "peak_rss_mib" not in r else "%.0f" % r["peak_rss_mib"]))
            out.append("")
    b = report.get("breakdown")
    if b:
        out.append("### Where the time goes: HTTPS, mode both, one connection, 0 µs service time (BPF run-time "
                   "statistics on, %d requests)\n" % b["requests"])
        out.extend(breakdown_table(b))
    if report.get("h2"):
        out.append(markdown_h2(report["h2"]))
    return "\n".join(out)


if __name__ == "__main__":
    main()
