#!/usr/bin/env python3
"""Per-hit probe costs inside the kernel matrix's qemu guests (Debian 6.1 and 6.12, which have kprobes): a kprobe
on the getppid syscall's function, the getppid syscall tracepoint and a uprobe on a nop, each measured against
the same loop without it (tests/kernel/run_kernel_test.sh with L7TAP_KERNEL_TASK=probe-cost, three rounds,
medians). qemu runs with TCG (no KVM here): the CPU is emulated, so the nanoseconds are not this machine's; only
the kinds' ratios within one guest compare (a kprobe against the tracepoint l7tap uses where kprobes are absent,
and against a uprobe).

  probe_cost_guest.py --build DIR [--json FILE] > probe_cost_guest.md"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "..", "tests", "kernel", "run_kernel_test.sh")
LINE = re.compile(r"^L7TAP-PROBECOST (.*)$")


def measure(build, series):
    env = dict(os.environ, L7TAP_KERNEL_TASK="probe-cost")
    r = subprocess.run(["bash", RUNNER, build, series], env=env, capture_output=True, text=True, timeout=900)
    rounds = []
    for line in r.stdout.splitlines():
        m = LINE.match(line.strip())
        if m:
            rounds.append(dict(kv.split("=", 1) for kv in m.group(1).split()))
    if r.returncode != 0 or not rounds:
        sys.exit("probe_cost_guest: the %s guest measured nothing (exit %d):\n%s" % (series, r.returncode,
                                                                                   r.stdout[-2000:]))
    def per_hit(probe, base):
        return statistics.median(float(x[probe]) - float(x[base]) for x in rounds)
    return {"series": series, "release": rounds[0]["release"], "rounds": rounds,
            "kprobe_ns": per_hit("kprobe", "getppid"), "tracepoint_ns": per_hit("tracepoint", "getppid"),
            "uprobe_nop_ns": per_hit("uprobe", "nop"),
            "kprobe_hit": all(int(x.get("kprobe_hits") or 0) > 0 for x in rounds)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", required=True)
    p.add_argument("--json")
    a = p.parse_args()
    rows = [measure(os.path.abspath(a.build), s) for s in ("6.1", "6.12")]
    print("Inside the qemu guests (TCG: emulated CPU, **relative figures only**; per hit, medians of 3 rounds "
          "of 200 000 calls):\n")
    print("| guest kernel | kprobe (getppid's function) | syscall tracepoint | uprobe on a nop | kprobe / tracepoint "
          "| uprobe / kprobe |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        kp = "%.0f ns" % r["kprobe_ns"] if r["kprobe_hit"] else "n/a (never hit)"
        print("| %s | %s | %.0f ns | %.0f ns | %s | %s |" % (
            r["release"], kp, r["tracepoint_ns"], r["uprobe_nop_ns"],
            "%.2f" % (r["kprobe_ns"] / r["tracepoint_ns"]) if r["kprobe_hit"] and r["tracepoint_ns"] > 0 else "–",
            "%.2f" % (r["uprobe_nop_ns"] / r["kprobe_ns"]) if r["kprobe_hit"] and r["kprobe_ns"] > 0 else "–"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
