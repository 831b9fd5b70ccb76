#!/usr/bin/env python3
"""Writes benchmarks/results/REPORT.md and overhead.png from what benchmarks/run.sh measured:
overhead.json (overhead.py), probe_cost.md (probe_cost.py) and micro.txt (Google Benchmark medians).

  report.py RESULTS_DIR"""
import json
import os
import re
import subprocess
import sys
import time

GOALS = """| goal | measured here |
|---|---|
| added p50 latency per HTTPS request with TLS uprobes ≤ 3 µs | {added_https} µs (HTTPS, 0 µs service time, mode both vs untraced; both sides of the request are traced) |
| overhead ≤ 0.5 % at 1 ms service time | {ratio_1ms} (p50 traced/untraced, HTTPS, mode both) |
| agent CPU ≤ 5 µs per traced transaction | {agent_us} µs (HTTPS at {rate_rps} req/s, mode both); {agent_us_tp} µs at full speed ({rps} req/s, 8 connections) |
| 0 events lost at 20 000 requests/s | {lost_rate_http} lost at {rate_rps_http} req/s HTTP (syscall probes, fixed rate); {lost} at full speed ({rps} req/s HTTPS, 8 connections, mode both); {lost_rate} at {rate_rps} req/s HTTPS (fixed rate, mode both) |
| agent RSS ≤ 50 MB | {rss} MiB peak |
| HTTP/1 parsing ≥ 1 GB/s on one core | {parse} |
| HTTP/2 parsing ≤ 1 µs per stream on one core | {parse_h2} |
| probe placement: optimized ≥ 5× cheaper than entry | {placement} |
"""


def row(rows, scheme, load, st, mode, target=0):
    """The summary row; `target`: the fixed rate of a rate row (rows of older runs have one rate, unnamed)."""
    for r in rows:
        if (r["scheme"], r["load"], r["service_us"], r["mode"]) == (scheme, load, st, mode) and (
                r.get("target_rps", target) == target):
            return r
    return None


def med(r, key, spec="%.1f"):
    if not r or not r.get(key):
        return "n/a"
    return spec % r[key]["median"]


def budget(report, directory, both0):
    """The added p50 of mode both (HTTPS, 0 us service time) taken apart: probe traps priced by the per-probe
    table (trap and handler without a record: the BPF programs' own run time is measured separately) plus the
    BPF run time per request."""
    b = report.get("breakdown")
    path = os.path.join(directory, "probe_cost.json")
    if not b or not both0 or not both0.get("added_us") or not os.path.exists(path):
        return ""
    rows = {r["key"]: r for r in json.load(open(path))["rows"]}
    if "push" not in rows or "uretprobe" not in rows:
        return ""
    trap = rows["push"]["added_ring_buffer_off_median"]
    ret = rows["uretprobe"]["added_ring_buffer_off_median"] - trap
    step = rows["mov"]["added_ring_buffer_off_median"] if "mov" in rows else 0
    h = b["hits_per_request"]
    bpf = sum(p["ns_per_request"] for p in b["programs"])
    traps = h["emulated"] * trap + h["uretprobe"] * ret + h["single_step"] * step
    top = ", ".join("%s %.0f ns" % (p["name"], p["ns_per_request"]) for p in b["programs"][:4])
    return ("Where the %.1f µs added per HTTPS request (mode both, 0 µs service time) go: %.1f emulated probe hits "
            "× %.0f ns + %.1f uretprobe returns × %.0f ns%s = %.1f µs of traps (per-probe table, without the "
            "BPF programs), and %.1f µs of BPF programs (kernel run-time statistics; largest per request: %s): "
            "%.1f µs together. The traps are the kernel's price per hit on this virtual machine and stay as long "
            "as both the request's sides are traced with entry and return probes on SSL_read/SSL_write.\n" % (
                both0["added_us"]["median"], h["emulated"], trap, h["uretprobe"], ret,
                (" + %.1f single-stepped × %.0f ns" % (h["single_step"], step)) if h["single_step"] else "",
                traps / 1000, bpf / 1000, top, (traps + bpf) / 1000))


def parse_summary(micro_path):
    """The HTTP/1 rows of the microbenchmarks, in words."""
    if not os.path.exists(micro_path):
        return "not measured"
    rates = {}
    for line in open(micro_path):
        m = re.match(r"BM_(\w+?)_median .*bytes_per_second=([\d.]+)([kMG])/s", line)
        if m:
            rates[m.group(1)] = float(m.group(2)) * {"k": 1e-3, "M": 1, "G": 1e3}[m.group(3)]
    def mb(name):
        return "%.0f MB/s" % rates[name] if name in rates else "n/a"
    return ("%s on small keep-alive messages (~320 bytes per request+response, headers only), %s with 16 KiB "
            "bodies; llhttp alone, no callbacks, on the small messages: %s (the ceiling for header-bound traffic "
            "on this CPU)" % (mb("Http1SessionKeepAlive"), mb("Http1SessionLargeBodies"), mb("LlhttpAlone")))


def h2_parse_summary(micro_path):
    """The HTTP/2 rows of the microbenchmarks (http2_bench's per_stream counter, median and min–max), in words."""
    if not os.path.exists(micro_path):
        return "not measured"
    per = {}
    for line in open(micro_path):
        m = re.match(r"BM_Http2(\w+?)_(median|min|max) .*per_stream=([\d.]+)([munp]?)s", line)
        if m:
            scale = {"": 1e9, "m": 1e6, "u": 1e3, "n": 1, "p": 1e-3}[m.group(4)]
            per.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3)) * scale
    def ns(name):
        v = per.get(name, {})
        if "median" not in v:
            return "n/a"
        spread = " (%.0f–%.0f)" % (v["min"], v["max"]) if "min" in v and "max" in v else ""
        return "%.0f ns%s" % (v["median"], spread)
    return ("%s per stream (one GET and its response) on a connection of 100 concurrent streams through "
            "Http2Session, %s through the whole connection tracker; %s with 100 sequential streams reusing the "
            "HPACK table, %s per unary gRPC call (recorded nghttp2 client and server, fresh session per "
            "connection, CPU time; median with min–max over the repetitions)" % (
                ns("Concurrent100"), ns("TrackerConcurrent100"), ns("Sequential100"), ns("GrpcUnary100")))


def h2_summary(report):
    """The HTTP/2 overhead rows in words, for the goals table's neighbourhood."""
    h2 = report.get("h2")
    if not h2:
        return ""
    rows = {(r["load"], r["mode"]): r for r in h2["rows"]}
    lat, tp = rows.get(("latency", "both")), rows.get(("throughput", "both"))
    if not lat or not tp:
        return ""
    exact = all(r.get("exact") for r in (lat, tp))
    text = ("HTTP/2 over TLS (h2load against nginx, mode both vs untraced): mean request time ×%s on one "
            "connection with one stream at a time (+%s µs), throughput ×%s with 4 connections of 10 streams; "
            "the agent counted %s the requests h2load made on nginx's side in every traced run." % (
                med(lat, "mean_ratio", "%.3f"), med(lat, "added_mean_us"), med(tp, "rps_ratio", "%.3f"),
                "exactly" if exact else "NOT exactly"))
    klat, ktp = rows.get(("latency", "keys")), rows.get(("throughput", "keys"))
    if klat and ktp:
        text += (" Mode keys: ×%s (+%s µs) and ×%s, counted %s." % (
            med(klat, "mean_ratio", "%.3f"), med(klat, "added_mean_us"), med(ktp, "rps_ratio", "%.3f"),
            "exactly" if all(r.get("exact") for r in (klat, ktp)) else "NOT exactly"))
    return text + "\n"


# keys mode's goals, each judged from the numbers of one summary row: (what, goal in words).
KEYS_GOALS = [
    ("p50", "p50 traced/untraced ≤ 1.10 (one connection, 0 µs service time)"),
    ("throughput", "req/s traced/untraced ≥ 0.90 (8 connections)"),
    ("cpu", "agent CPU ≤ 5 µs per transaction, decryption included"),
    ("lost", "0 events lost at 20 000 HTTPS requests/s (fixed rate)"),
]
COUNT_ORDER = ["exact", "in flight", "mismatch"]


def keys_section(report):
    """keys mode against plaintext (mode both) for OpenSSL and Go, each goal met or not met by the numbers.
    A verdict stands only where the agent's counts of the same runs are right: a mode that records less
    would otherwise look cheaper."""
    rows = report["rows"]
    keys_rate = report.get("keys_rate", 20000)
    rate_words = "{:,} req/s".format(keys_rate).replace(",", " ")
    servers = [("OpenSSL", "OpenSSL 3 (fixture server; wrk and the fixture client on libssl)", "https"),
               ("Go", "Go crypto/tls (%s; wrk on libssl)" % report.get("go_server", "Go fixture server"), "go")]
    unavailable = "keys" in report.get("modes_unavailable", [])
    failed = [f for f in report.get("failures", []) if f["mode"] == "keys"]
    if not unavailable and not failed and not any(r["mode"] == "keys" for r in rows):
        return ""

    def judged(value, ok, used):
        """(met, cell text): `ok` from the numbers, unless the agent's counts of the runs `used` are wrong."""
        if any(r and r.get("count_status") == "mismatch" for r in used):
            return False, value + " — **not met** (the agent's counts of these runs are wrong)"
        return ok, value + (" — met" if ok else " — **not met**")

    out = ["## Keys mode (`--tls-capture keys`)\n",
           "keys captures each handshake's secrets with one uprobe on the TLS library's key-log function and "
           "decrypts the ciphertext the syscall probes copy anyway: per request the traced processes pay only the "
           "syscall probes. Its goals, against plaintext capture (mode both: uprobes on SSL_read/SSL_write and "
           "Go's (*tls.Conn).Read/Write) in the same repetitions, both sides of every request traced: " +
           "; ".join(text for _, text in KEYS_GOALS) + ". Medians over the repetitions; a goal reads met only "
           "where the agent also counted those runs' requests right.\n"]
    if unavailable:
        out.append("Not measured: the agent that ran had no `--tls-capture`.\n")
        return "\n".join(out)
    for f in failed:
        out.append("Mode keys failed (%s, repetition %d) and was left out from there: %s\n" % (
            f["scheme"], f["rep"], f["error"]))
    table = ["| server | mode | " + " | ".join(text for _, text in KEYS_GOALS) +
             " | uprobe hits/request (one connection) | agent's counts |", "|---|---|---|---|---|---|---|---|"]
    tally = []
    for short, label, scheme in servers:
        for mode, name in (("both", "plaintext (both)"), ("keys", "keys")):
            lat = row(rows, scheme, "latency", 0, mode)
            tp = row(rows, scheme, "throughput", 0, mode)
            rate = row(rows, scheme, "rate", 0, mode, keys_rate) if scheme == "https" else None
            if not lat and not tp and not rate:
                continue
            cells = {}
            if lat and lat.get("p50_ratio"):
                v = lat["p50_ratio"]["median"]
                cells["p50"] = judged("%.3f" % v, v <= 1.10, [lat])
            if tp and tp.get("rps_ratio"):
                v = tp["rps_ratio"]["median"]
                cells["throughput"] = judged("%.3f" % v, v >= 0.90, [tp])
            cpu = [(what, r["agent_us_per_txn"]["median"]) for what, r in (("full speed", tp), (rate_words, rate))
                   if r and r.get("agent_us_per_txn")]
            if cpu:
                cells["cpu"] = judged(", ".join("%.1f µs at %s" % (v, what) for what, v in cpu),
                                      all(v <= 5 for _, v in cpu), [tp, rate])
            if rate and "lost" in rate:
                # The rate must be reached too: an agent slowing the service below it would lose nothing.
                reached = rate["rps"]["min"] >= 0.99 * keys_rate
                text = "%d lost, %.0f req/s achieved (min %.0f)%s" % (
                    rate["lost"], rate["rps"]["median"], rate["rps"]["min"],
                    "" if reached else ", below 99 % of the rate")
                cells["lost"] = judged(text, rate["lost"] == 0 and reached, [rate])
            missing = ("not measured (the fixed-rate client runs against the OpenSSL server only)" if scheme == "go"
                       else "not measured")
            statuses = [r["count_status"] for r in (lat, tp, rate) if r and "count_status" in r]
            counts = max(statuses, key=COUNT_ORDER.index) if statuses else "–"
            counts = {"in flight": "right (wrk's side exact, the server's side up to wrk's unanswered requests "
                                   "more)", "mismatch": "**wrong** (see the tables below)"}.get(counts, counts)
            # Per-request uprobe hits tell whether keys ran as keys (only handshakes hit its uprobe).
            table.append("| %s | %s | %s | %s | %s |" % (
                label, name, " | ".join(cells[key][1] if key in cells else missing for key, _ in KEYS_GOALS),
                med(lat, "hits_per_request", "%.2f"), counts))
            if mode == "keys":
                tally.append("%s %d of %d" % (short, sum(met for met, _ in cells.values()), len(cells)))
    if len(table) > 2:
        out.extend(table + [""])
    if tally:
        out.append("Goals met by keys mode, of those measured here: " + "; ".join(tally) + ".\n")
    return "\n".join(out)


def plot(report, directory):
    """Overhead (p50 traced/untraced − 1, %) against service time, one line per HTTPS mode."""
    rows = [r for r in report["rows"] if r["scheme"] == "https" and r["load"] == "latency" and "p50_ratio" in r]
    if not rows:
        return None
    times = sorted({r["service_us"] for r in rows})
    modes = [m for m in dict.fromkeys(r["mode"] for r in rows)]
    data = os.path.join(directory, "overhead.dat")
    with open(data, "w") as f:
        f.write("# service_us " + " ".join(modes) + "\n")
        for i, t in enumerate(times):
            values = []
            for m in modes:
                r = row(rows, "https", "latency", t, m)
                values.append("%.3f" % ((r["p50_ratio"]["median"] - 1) * 100) if r else "NaN")
            f.write("%d %d %s\n" % (i, t, " ".join(values)))
    png = os.path.join(directory, "overhead.png")
    script = ["set terminal png size 900,540", "set output '%s'" % png,
              "set title 'l7tap: added p50 latency per HTTPS request (traced/untraced - 1)'",
              "set xlabel 'service time of the request (µs)'", "set ylabel 'overhead (%)'", "set grid",
              "set key top right", "set xtics (%s)" % ", ".join('"%d" %d' % (t, i) for i, t in enumerate(times))]
    plots = ["'%s' using 1:%d with linespoints lw 2 title '%s'" % (data, 3 + k, m) for k, m in enumerate(modes)]
    script.append("plot " + ", ".join(plots))
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
    os.unlink(data)
    return png


def go_setup(report):
    if not any(r["scheme"] == "go" for r in report["rows"]):
        return ""
    return ("Go: the Go fixture server (`fixtures/go/server`, %s: go1.23, `-ldflags=-s -w`, so l7tap finds "
            "crypto/tls through `.gopclntab` as in most production binaries) serves HTTPS on CPU 0, GOMAXPROCS 1 "
            "from its CPU affinity; wrk (libssl, traced too) requests `/` on one connection (latency) and on 8 "
            "(throughput). The Go server has no service-time knob, so its latency rows are at 0 µs only. Every "
            "traced run checks the agent's count of the server's requests at its port "
            "(`http_server_request_duration_seconds_count`) and of wrk's side against wrk's own count; wrk stops "
            "with up to one request per connection unanswered, which the server did answer, so the server side "
            "may exceed wrk's count by up to the connection count (wrk's side must match exactly). The OpenSSL "
            "rows get the same check, the fixed-rate ones exact on both sides.\n\n" % report.get("go_server", "?"))


def h2_setup(report):
    h2 = report.get("h2")
    if not h2:
        return ""
    return ("HTTP/2: h2load (%s, Debian's nghttp2-client, on the system libssl like nginx) against nginx (%s, one "
            "worker, `listen … ssl http2`, a 612-byte static page) over TLS with ALPN h2 on loopback, both on CPU 0, "
            "the agent on CPU 1; a fixed number of requests per run: one connection with one stream at a time "
            "(`-c 1 -m 1`, latency) and 4 connections with 10 concurrent streams each (`-c 4 -m 10`, throughput); "
            "%d repetitions, untraced, both and keys, their order reversed every other repetition (A B C, C B A, …). "
            "Mean request time is h2load's own, "
            "p50 and p99 come from its per-request log (`--log-file`). Every traced run checks the agent's count "
            "of HTTP/2 requests on nginx's side (`http_server_request_duration_seconds_count`, "
            "`network_protocol_version=\"2\"`, nginx's port) against h2load's. With 40 streams in flight and "
            "h2load sharing nginx's CPU, throughput-run latencies are queueing (mean ≈ streams in flight / "
            "throughput), not per-request cost.\n\n" % (h2["h2load"], h2["nginx"], h2["reps"]))


def main():
    directory = sys.argv[1]
    with open(os.path.join(directory, "overhead.json")) as f:
        report = json.load(f)
    rows = report["rows"]
    m = report["machine"]
    both0 = row(rows, "https", "latency", 0, "both")
    entry0 = row(rows, "https", "latency", 0, "both-entry")
    both1ms = row(rows, "https", "latency", 1000, "both")
    bothtp = row(rows, "https", "throughput", 0, "both")
    bothrate = row(rows, "https", "rate", 0, "both", report.get("fixed_rate", {}).get("https", 10000))
    sysrate = row(rows, "http", "rate", 0, "syscalls", report.get("fixed_rate", {}).get("http", 20000))
    placement = "n/a"
    if both0 and entry0 and both0.get("added_us") and entry0.get("added_us"):
        placement = ("%.1f µs added per request with optimized placement vs %.1f µs with entry placement (p50, HTTPS, "
                     "0 µs service time); entry placement costs %.1f µs more: %s single-stepped hits per request "
                     "vs %s" % (both0["added_us"]["median"], entry0["added_us"]["median"],
                                entry0["added_us"]["median"] - both0["added_us"]["median"],
                                med(entry0, "single_step_per_request", "%.0f"),
                                med(both0, "single_step_per_request", "%.0f")))
    goals = GOALS.format(
        added_https=med(both0, "added_us"),
        ratio_1ms=("%.2f %%" % ((both1ms["p50_ratio"]["median"] - 1) * 100)) if both1ms else "n/a",
        agent_us=med(bothrate, "agent_us_per_txn"), agent_us_tp=med(bothtp, "agent_us_per_txn"),
        lost=int(bothtp["lost"]) if bothtp else "n/a", rps=med(bothtp, "rps", "%.0f"),
        lost_rate=int(bothrate["lost"]) if bothrate else "n/a", rate_rps=med(bothrate, "rps", "%.0f"),
        lost_rate_http=int(sysrate["lost"]) if sysrate else "n/a", rate_rps_http=med(sysrate, "rps", "%.0f"),
        parse=parse_summary(os.path.join(directory, "micro.txt")),
        parse_h2=h2_parse_summary(os.path.join(directory, "micro.txt")),
        rss="%.0f" % max([r.get("peak_rss_mib", 0) for r in rows] +
                         [r.get("peak_rss_mib", 0) for r in (report.get("h2") or {}).get("rows", [])], default=0),
        placement=placement)
    png = plot(report, directory)

    def read(name):
        path = os.path.join(directory, name)
        return open(path).read().strip() if os.path.exists(path) else "(not measured)"

    with open(os.path.join(directory, "overhead.md")) as f:
        tables = f.read()
    kprobes = {False: " (this kernel has no kprobes, so the tracepoint backend stands in for the kprobe one)"}.get(
        m.get("kprobes"), "")
    keys_rate = "{:,}".format(report.get("keys_rate", 20000)).replace(",", " ")
    text = f"""# l7tap overhead report

Measured {time.strftime('%Y-%m-%d', time.gmtime())} by `make bench` ({'QUICK=1, ' if report['reps'] < 5 else ''}{report['reps']} repetitions, modes interleaved A B A B …, {report['seconds']} s per wrk run). Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, kernel {m['kernel']}; syscall probe backend **{report['backend']}**{kprobes}.

Setup: the fixture HTTP/HTTPS server (`fixtures/http_server`, OpenSSL 3 through the system libssl) answers `/work/N` after sleeping N µs; wrk (Debian, also on libssl) drives it over loopback: one connection in a closed loop for latency, 8 connections at full speed for throughput; the fixture client (`http_client --mode rate`, libssl too) sends a fixed rate on 4 connections in an open loop (HTTP 20 000 requests/s; HTTPS 10 000, as at 20 000 the TLS client and server alone nearly fill CPU 0 and the open loop then measures queueing), its latency counted from each request's scheduled time; for keys mode's goal one more HTTPS fixed-rate run at {keys_rate} requests/s in modes untraced, both and keys (the achieved rate shows whether CPU 0 kept up). Besides each mode's flags l7tap runs with its defaults (events reach the agent in 10 ms batches, `--event-batch-ms`). Both wrk and the server are traced, so each request is seen twice (transactions/request = 2) and the added latency is that of two traced processes. The server and wrk share CPU 0 and the agent runs on CPU 1: in a closed loop the service CPU then never idles (on this VM an idle vCPU's wake-up latency is tens of µs and would drown the probes; an agent keeping CPUs awake would even make traced runs look faster), and the agent's own work stays off the measured path while the probes' work, which runs in the traced processes, stays on it. Figures are medians over the repetitions with min–max in parentheses; ratios are traced/untraced within one repetition.

{go_setup(report)}{h2_setup(report)}Modes: **untraced**; **syscalls** (l7tap, syscall probes only, `--tls-probes off`: HTTPS shows only ciphertext, nothing recorded); **tls-only** (`--syscall-probes off --tls-capture plaintext`: the TLS uprobes fire but OpenSSL's socket is named by the syscall probes, so their plaintext is dropped and counted as lost — this row is the uprobes' cost alone); **both** (`--tls-capture plaintext`: syscall probes and uprobes on SSL_read/SSL_write and Go's (*tls.Conn).Read/Write, which read the plaintext); **both-entry** (the same with `--probe-placement=entry`); **keys** (`--tls-capture keys`: syscall probes and one uprobe per file on the TLS library's key-log function, hit once per handshake; the agent decrypts the ciphertext the syscall probes copy).

## Goals

{goals}
{budget(report, directory, both0)}
{h2_summary(report)}
{f"![overhead vs service time]({os.path.basename(png)})" if png else ""}

{keys_section(report)}

## Overhead by mode

{tables}

## Per-probe cost (tight loop)

{read('probe_cost.md')}

{read('probe_cost_guest.md')}

## Microbenchmarks (Google Benchmark, medians)

```
{read('micro.txt')}
```
"""
    with open(os.path.join(directory, "REPORT.md"), "w") as f:
        f.write(text)
    print("wrote %s%s" % (os.path.join(directory, "REPORT.md"), " and " + png if png else ""))


if __name__ == "__main__":
    main()
