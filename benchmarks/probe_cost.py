#!/usr/bin/env python3
"""Per-probe cost: ns per hit of a uprobe by the class of the instruction under it, of a uretprobe, of
syscall tracepoints and, where the kernel has kprobes, of a kprobe on the syscall's function, measured on a
tight loop (probe_cost_loop) unattached vs attached.

Probes are attached through the kernel's tracefs interface (uprobe_events, kprobe_events, syscall events),
not BPF: what is measured is the trap and the kernel's handling of it (emulation or out-of-line
single-step, return trampoline, syscall slow path), which is what dominates a probe hit; a BPF program's
own run time comes on top. Events are enabled in a private trace instance, so the global trace buffer and
tracing_on are never touched. Each attached run is done twice: with the instance's ring buffer on (the
event record is written: trap + handler + ring-buffer write) and off (trap + handler only).

Needs root. Usage: probe_cost.py [--quick] [--json FILE] [--binary build/benchmarks/probe_cost_loop]
"""

import argparse
import json
import os
import platform
import signal
import statistics
import struct
import subprocess
import sys
import time

GROUP = "l7tapcost"
HERE = os.path.dirname(os.path.abspath(__file__))

# (key, probed function, first instruction, class, probes). Probes are (type, event name, symbol); the
# classes are what the x86 uprobe code does with the instruction (the nop5 row is re-labelled if the
# kernel turned it into a trampoline call, see below).
UPROBE_ROWS = [
    ("nop", "f_nop", "nop", "emulated", [("p", "nop", "f_nop")]),
    ("nop5", "f_nop5", "nopl 0x0(%rax,%rax,1)", "emulated", [("p", "nop5", "f_nop5")]),
    ("push", "f_push", "push %rbp", "emulated", [("p", "push", "f_push")]),
    ("jmp", "f_jmp", "jmp rel8", "emulated", [("p", "jmp", "f_jmp")]),
    ("jcc", "f_jcc", "jne rel8", "emulated", [("p", "jcc", "f_jcc")]),
    ("call", "f_call", "call rel32", "emulated", [("p", "call", "f_call")]),
    ("sub", "f_sub", "sub $0x18,%rsp", "single-step", [("p", "sub", "f_sub")]),
    ("lea", "f_lea", "lea 0x8(%rsp),%rax", "single-step", [("p", "lea", "f_lea")]),
    ("mov", "f_mov", "mov %rdi,%rax", "single-step", [("p", "mov", "f_mov")]),
    ("ret", "f_ret", "ret", "single-step", [("p", "ret", "f_ret")]),
    ("uretprobe", "f_push", "push %rbp + return", "emulated + uretprobe",
     [("p", "push_entry", "f_push"), ("r", "push_return", "f_push")]),
]


def find_tracefs():
    for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.exists(os.path.join(d, "uprobe_events")):
            return d
    sys.exit("probe_cost: no tracefs with uprobe_events (mount tracefs on /sys/kernel/tracing)")


class Tracefs:
    """Our probe definitions and trace instance; cleanup() removes all of them, also leftovers of an
    earlier run that was killed."""

    def __init__(self, root):
        self.root = root
        self.instance = os.path.join(root, "instances", GROUP)

    def write(self, rel, text, append=False):
        path = rel if os.path.isabs(rel) else os.path.join(self.root, rel)
        # O_APPEND without O_TRUNC: opening uprobe_events/kprobe_events for truncation would delete every
        # probe on the machine, not only ours.
        fd = os.open(path, os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
        try:
            os.write(fd, text.encode())
        except OSError as e:
            raise RuntimeError(f"writing {text!r} to {path}: {e}{self.error_log()}") from None
        finally:
            os.close(fd)

    def error_log(self):
        try:
            with open(os.path.join(self.root, "error_log")) as f:
                lines = f.read().strip().splitlines()
            return "\n  tracefs error_log: " + "\n  ".join(lines[-3:]) if lines else ""
        except OSError:
            return ""

    def define(self, events_file, definition):
        self.write(events_file, definition + "\n", append=True)

    def remove_ours(self):
        for events_file in ("uprobe_events", "kprobe_events"):
            path = os.path.join(self.root, events_file)
            if not os.path.exists(path):
                continue
            with open(path) as f:
                for line in f:
                    name = line.split()[0].split(":", 1)[1] if line.strip() else ""
                    if name.startswith(GROUP + "/"):
                        self.write(events_file, f"-:{name}\n", append=True)

    def create_instance(self):
        os.mkdir(self.instance)

    def enable(self, event, on):
        self.write(os.path.join(self.instance, "events", event, "enable"), "1" if on else "0")

    def ring_buffer(self, on):
        self.write(os.path.join(self.instance, "tracing_on"), "1" if on else "0")

    def cleanup(self):
        if os.path.isdir(self.instance):
            # Disables every event in the instance, which only this script uses.
            self.write(os.path.join(self.instance, "events", "enable"), "0")
            os.rmdir(self.instance)
        self.remove_ours()


def exec_file_offset(binary, vaddr):
    """File offset of a virtual address, through the ELF program header that maps it."""
    with open(binary, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        sys.exit(f"probe_cost: {binary} is not a 64-bit ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data,
                                                                            phoff + i * phentsize)
        if p_type == 1 and p_vaddr <= vaddr < p_vaddr + p_filesz:  # PT_LOAD
            return vaddr - p_vaddr + p_offset
    sys.exit(f"probe_cost: {hex(vaddr)} is in no PT_LOAD segment of {binary}")


def symbol_offsets(binary):
    out = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith("f_"):
            syms[parts[2]] = exec_file_offset(binary, int(parts[0], 16))
    return syms


def machine():
    model, hypervisor = "unknown", False
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and " hypervisor" in line:
                hypervisor = True
    return {"kernel": platform.release(), "cpu": model, "cpus": os.cpu_count(), "virtualized": hypervisor,
            "loadavg": os.getloadavg()[0]}


class Runner:
    # A run whose loop had less of a CPU than this was preempted (other load on the machine, or the
    # hypervisor), which inflates its wall-clock ns/call: it is run again, up to RETRIES times, and the
    # least disturbed run kept.
    MIN_CPU_SHARE = 0.85
    RETRIES = 2

    def __init__(self, binary):
        self.binary = binary
        self.trampoline = False
        self.runs = 0
        self.retried = 0
        self.disturbed = 0  # still below MIN_CPU_SHARE after the retries
        self.shares = []  # CPU share of each counted run kept

    def run_once(self, func, n):
        p = subprocess.run([self.binary, func, str(n)], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"{self.binary} {func} {n}: exit {p.returncode}: {p.stderr.strip()}")
        share = 1.0
        for line in p.stderr.splitlines():
            if line.startswith("cpu-share "):
                share = float(line.split()[1])
            elif line == "uprobes-trampoline":
                self.trampoline = True
        return float(p.stdout.strip()), share

    def run(self, func, n, counted=False):
        """Mean ns per call of `n` calls of func in a fresh process."""
        ns, share = self.run_once(func, n)
        self.retried += counted and share < self.MIN_CPU_SHARE
        for _ in range(self.RETRIES):
            if share >= self.MIN_CPU_SHARE:
                break
            ns2, share2 = self.run_once(func, n)
            if share2 > share:
                ns, share = ns2, share2
        if counted:
            self.runs += 1
            self.disturbed += share < self.MIN_CPU_SHARE
            self.shares.append(share)
        return ns

    def calibrate(self, func, n, min_s):
        """ns per call from runs grown until one lasts min_s (short runs are dominated by noise)."""
        while True:
            ns = self.run(func, n)
            total = ns * n
            if total >= min_s * 1e9 or n >= 10**10:
                return ns
            n = int(n * min(100.0, max(2.0, 1.5 * min_s * 1e9 / max(total, 1.0))))


def measure_row(tf, runner, func, events, reps, target_s, min_s):
    """Interleaved runs (unattached, attached, attached with the ring buffer off) so that drift in the
    machine's load hits all three alike; added cost is per run pair, then its median."""
    n_un = max(1000, int(target_s * 1e9 / runner.calibrate(func, 100_000, min_s)))

    def attach(on):
        for e in events:
            tf.enable(e, on)

    attach(True)
    try:
        n_att = max(200, int(target_s * 1e9 / runner.calibrate(func, 1000, min_s)))
    finally:
        attach(False)
    runner.trampoline = False
    runner.shares = []
    un, att, att_off = [], [], []
    for _ in range(reps):
        un.append(runner.run(func, n_un, counted=True))
        attach(True)
        try:
            att.append(runner.run(func, n_att, counted=True))
            tf.ring_buffer(False)
            try:
                att_off.append(runner.run(func, n_att, counted=True))
            finally:
                tf.ring_buffer(True)
        finally:
            attach(False)
    added = [a - u for a, u in zip(att, un)]
    added_off = [a - u for a, u in zip(att_off, un)]
    return {
        "n_unattached": n_un, "n_attached": n_att,
        "unattached_ns": un, "attached_ns": att, "attached_ring_buffer_off_ns": att_off,
        "added_ns": added, "added_ring_buffer_off_ns": added_off,
        "unattached_median": statistics.median(un), "attached_median": statistics.median(att),
        "added_median": statistics.median(added), "added_min": min(added), "added_max": max(added),
        "added_ring_buffer_off_median": statistics.median(added_off),
        "uprobe_trampoline": runner.trampoline,
        "cpu_shares": runner.shares,  # per run, in the order unattached, attached, ring buffer off
    }


def run_all(tf, runner, binary, reps, target_s, min_s, progress):
    offsets = symbol_offsets(binary)
    rows = []
    for key, func, insn, cls, probes in UPROBE_ROWS:
        progress(key)
        names = []
        try:
            for kind, name, sym in probes:
                tf.define("uprobe_events", f"{kind}:{GROUP}/{name} {binary}:{hex(offsets[sym])}")
                names.append(f"{GROUP}/{name}")
            r = measure_row(tf, runner, func, names, reps, target_s, min_s)
        finally:
            tf.remove_ours()
        if key == "nop5" and r["uprobe_trampoline"]:
            # After the first int3 hit the kernel rewrote the nop into a call to its trampoline, which
            # enters with the uprobe syscall: no trap at all.
            cls = "optimized (uprobe syscall)"
        r.update(key=key, function=func, instruction=insn, cls=cls, hits_per_call=len(probes))
        rows.append(r)

    progress("tracepoint")
    r = measure_row(tf, runner, "getppid", ["syscalls/sys_enter_getppid", "syscalls/sys_exit_getppid"], reps,
                    target_s, min_s)
    r.update(key="syscall_tracepoint", function="getppid", instruction="syscall (enter + exit)",
             cls="syscall tracepoint", hits_per_call=2)
    rows.append(r)

    rows.append(kprobe_row(tf, runner, reps, target_s, min_s, progress))
    return rows


def kprobe_row(tf, runner, reps, target_s, min_s, progress):
    """A kprobe on the getppid syscall's kernel function, hit once per call of the same loop as the
    tracepoint row; measured like the uprobes when the kernel has kprobes, else the reason it is not."""
    sym = next((s for s in ("__x64_sys_getppid", "sys_getppid") if kernel_has_symbol(s)), "__x64_sys_getppid")
    row = {"key": "kprobe", "function": "getppid", "instruction": f"{sym} entry", "cls": "kprobe",
           "hits_per_call": 1}
    if not os.path.exists("/sys/bus/event_source/devices/kprobe"):
        row["unavailable"] = "n/a (kernel without kprobes)"
        return row
    if not os.path.exists(os.path.join(tf.root, "kprobe_events")):
        row["unavailable"] = "n/a (kprobes, but no kprobe_events in tracefs)"
        return row
    progress("kprobe")
    try:
        tf.define("kprobe_events", f"p:{GROUP}/getppid_kprobe {sym}")
        row.update(measure_row(tf, runner, "getppid", [f"{GROUP}/getppid_kprobe"], reps, target_s, min_s))
        # A kprobe the syscall path never reaches (the function inlined into the dispatcher) would measure
        # nothing and look free.
        if kprobe_hits(tf, "getppid_kprobe") == 0:
            row = {k: row[k] for k in ("key", "function", "instruction", "cls", "hits_per_call")}
            row["unavailable"] = f"n/a ({sym} is never hit by getppid here)"
    finally:
        tf.remove_ours()
    return row


def kernel_has_symbol(name):
    try:
        with open("/proc/kallsyms") as f:
            return any(line.split()[2] == name for line in f if len(line.split()) >= 3)
    except OSError:
        return False


def kprobe_hits(tf, event):
    """Hits of our kprobe `event` so far (tracefs kprobe_profile: name, hits, misses), None if not listed."""
    try:
        with open(os.path.join(tf.root, "kprobe_profile")) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].split("/")[-1] == event:
                    return int(parts[1])
    except OSError:
        pass
    return None


def fmt(ns):
    return f"{ns:,.1f}" if abs(ns) < 100 else f"{ns:,.0f}"


def markdown(info, rows, mode, reps, elapsed, runner):
    out = [
        "# Probe cost per hit", "",
        f"- kernel {info['kernel']}, CPU {info['cpu']} ({info['cpus']} CPUs"
        f"{', virtualized' if info['virtualized'] else ''}), load average {info['loadavg']:.2f} at start",
        f"- mode {mode}: median of {reps} interleaved runs per row, {elapsed:.0f} s in all",
        "",
        "| probe | first instruction | class | hits/call | unattached ns/call | attached ns/call "
        "| added ns/call | added min–max | added, ring buffer off |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_key = {r["key"]: r for r in rows}
    for r in rows:
        label = {"uretprobe": "uprobe + uretprobe", "syscall_tracepoint": "syscall tracepoints",
                 "kprobe": "kprobe"}.get(r["key"], "uprobe")
        head = f"| {label} | `{r['instruction']}` | {r['cls']} | {r['hits_per_call']} |"
        if "unavailable" in r:
            out.append(head + f" {r['unavailable']} | | | | |")
            continue
        out.append(head + f" {fmt(r['unattached_median'])} | {fmt(r['attached_median'])} "
                   f"| **{fmt(r['added_median'])}** | {fmt(r['added_min'])}–{fmt(r['added_max'])} "
                   f"| {fmt(r['added_ring_buffer_off_median'])} |")
    out += ["",
            "- added = attached − unattached, per pair of interleaved runs; for one-hit rows it is the cost "
            "of a hit. The uretprobe row has two hits per call (entry + return), the tracepoint row two "
            "events (sys_enter + sys_exit)."]
    if "uretprobe" in by_key and "push" in by_key:
        ret_only = by_key["uretprobe"]["added_median"] - by_key["push"]["added_median"]
        out.append(f"- return probe alone ≈ {fmt(ret_only)} ns (uprobe + uretprobe row minus the push row).")
    if "kprobe" in by_key and "unavailable" not in by_key["kprobe"]:
        out.append("- kprobe: one hit per getppid() on the kernel function the syscall dispatches to, on top of "
                   "the syscall itself (the loop is the tracepoint row's); what l7tap's kprobe backend pays per "
                   "probed syscall instead of the tracepoints.")
    out += [
        "- attached = tracefs event enabled (trap + kernel handler + ring-buffer write of the event "
        "record); \"ring buffer off\" = same with the trace instance's tracing_on=0 (trap + handler, no "
        "record). A BPF program instead of the tracefs handler replaces the record write with its own run "
        "time.",
        "- emulated: the kernel executes the instruction itself on the int3 trap; single-step: it runs a "
        "copy out of line with the trap flag set, a second trap (#DB) per hit.",
        f"- wall-clock runs: {runner.retried} of {runner.runs} had < {runner.MIN_CPU_SHARE:.0%} of a CPU "
        f"(preempted) and were re-run up to {runner.RETRIES} times, {runner.disturbed} still were; "
        "medians absorb a few, min–max shows them.",
    ]
    if by_key.get("nop5", {}).get("uprobe_trampoline"):
        out.append("- nop5: the kernel rewrote the probed 5-byte nop into a call to `[uprobes-trampoline]` "
                   "after the first hit; later hits enter with the uprobe syscall instead of a trap.")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 shorter runs per row (~15 s in all; full mode ~50 s)")
    ap.add_argument("--json", metavar="FILE", help="also write the raw numbers here")
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "build", "benchmarks", "probe_cost_loop"))
    args = ap.parse_args()

    binary = os.path.realpath(args.binary)  # uprobe_events wants an absolute path
    if not os.access(binary, os.X_OK):
        sys.exit(f"probe_cost: no {binary}; build it: cmake --build build --target probe_cost_loop")
    if os.geteuid() != 0:
        sys.exit("probe_cost: needs root (tracefs)")
    reps, target_s, min_s = (3, 0.08, 0.01) if args.quick else (5, 0.25, 0.02)
    mode = "quick" if args.quick else "full"

    tf = Tracefs(find_tracefs())
    runner = Runner(binary)
    info = machine()

    # SIGTERM/SIGHUP unwind like Ctrl-C so that the finally below removes the probes.
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    start = time.monotonic()
    try:
        tf.cleanup()  # leftovers of a run that was killed with SIGKILL
        tf.create_instance()
        rows = run_all(tf, runner, binary, reps, target_s, min_s,
                       lambda key: print(f"probe_cost: {key}", file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        print("probe_cost: interrupted", file=sys.stderr)
        return 130
    except RuntimeError as e:  # a probe the kernel refused, or the loop program failing
        print(f"probe_cost: {e}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        tf.cleanup()
    elapsed = time.monotonic() - start

    print(markdown(info, rows, mode, reps, elapsed, runner))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "mode": mode, "reps": reps, "elapsed_s": elapsed,
                       "runs": runner.runs, "runs_retried": runner.retried,
                       "runs_disturbed": runner.disturbed, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
