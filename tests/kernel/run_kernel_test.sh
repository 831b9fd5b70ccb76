#!/usr/bin/env bash
# Kernel-matrix end-to-end test. Boots a Debian kernel that has kprobes and BTF (bookworm's 6.1, or 6.12
# from bookworm-backports) under qemu with software emulation (TCG; KVM is not used), from an initramfs
# built here: busybox, l7tap, the HTTP fixtures and their shared libraries, and tests/kernel/init.sh as /init.
# Inside, l7tap runs once with --syscall-probes=kprobe and once with auto; each time the fixtures make
# KEEPALIVE keep-alive and ONESHOT one-connection-per-request transactions, and the test passes only if both
# runs report the kprobe backend, exactly KEEPALIVE+ONESHOT transactions on the server side and on the
# client side, no lost events, and a clean exit on SIGTERM.
#
# Usage: tests/kernel/run_kernel_test.sh BUILD_DIR [6.1|6.12]
# Installs qemu-system-x86 and busybox-static when missing; downloads the kernel package once into
# BUILD_DIR/kernel-cache/SERIES/ (only vmlinuz and its config are kept). Leaves no process or temp dir behind;
# the last run's logs stay in BUILD_DIR/kernel-cache/{console,kernel}-SERIES.log (the guest script's output
# and the kernel's console). Environment: L7TAP_QEMU_TIMEOUT (seconds for the whole boot, default 600);
# L7TAP_KERNEL_TASK=probe-cost boots the same guest to measure per-hit probe costs instead (a kprobe, a syscall
# tracepoint and a uprobe on benchmarks/probe_cost_loop; benchmarks/probe_cost_guest.sh runs it): its
# "L7TAP-PROBECOST ..." lines are printed, and it fails only when none came.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: $0 BUILD_DIR [6.1|6.12]}" && pwd)
series=${2:-6.1}
case $series in
  6.1) suite=bookworm ;;
  6.12) suite=bookworm-backports ;;
  *) echo "kernel-test: unknown kernel series '$series' (expected 6.1 or 6.12)" >&2; exit 2 ;;
esac
keepalive=20
oneshot=10
modes=(kprobe auto)
task=${L7TAP_KERNEL_TASK:-agent}
if [ "$task" = probe-cost ]; then
  modes=()
  if [ ! -x "$build/benchmarks/probe_cost_loop" ]; then
    echo "kernel-test[$series]: $build/benchmarks/probe_cost_loop is missing: run 'make build' first" >&2
    exit 1
  fi
fi
qemu_timeout=${L7TAP_QEMU_TIMEOUT:-600}
say() { echo "kernel-test[$series]: $*"; }

for f in l7tap fixtures/http_server fixtures/http_client; do
  if [ ! -x "$build/$f" ]; then
    say "$build/$f is missing: run 'make build' first" >&2
    exit 1
  fi
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Host tools.
missing=()
for p in qemu-system-x86 busybox-static; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/l7tap-kernel.XXXXXX")
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true # timeout(1) passes the signal on to qemu
    wait "$qemu_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The kernel: vmlinuz and config of the suite's linux-image-amd64, fetched once with apt from the Debian
# mirror this machine already uses, through a private list directory (the host's apt state is untouched).
cache=$build/kernel-cache/$series
if [ ! -s "$cache/vmlinuz" ] || [ ! -s "$cache/config" ]; then
  # shellcheck source=scripts/apt_suite.sh
  source "$here/../../scripts/apt_suite.sh"
  mkdir -p "$tmp/deb"
  say "fetching the kernel of $suite"
  apt_suite "$tmp/apt" "$suite"
  pkg=$(apt-cache "${apt_opts[@]}" depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
  if ! [[ $pkg =~ ^linux-image-${series//./\\.}[.+-].*-amd64$ ]]; then
    say "$suite's linux-image-amd64 is '${pkg:-nothing}', not a $series kernel" >&2
    exit 1
  fi
  (cd "$tmp/deb" && apt-get "${apt_opts[@]}" download -qq "$pkg")
  deb=$(ls "$tmp"/deb/*.deb)
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/deb" --wildcards './boot/vmlinuz-*' './boot/config-*'
  rm -rf "$cache.partial"
  mkdir -p "$cache.partial"
  cp "$tmp"/deb/boot/vmlinuz-* "$cache.partial/vmlinuz"
  cp "$tmp"/deb/boot/config-* "$cache.partial/config"
  echo "$pkg $(dpkg-deb -f "$deb" Version)" >"$cache.partial/package"
  rm -rf "$cache"
  mv "$cache.partial" "$cache"
  rm -rf "$tmp/deb" "$tmp/apt"
fi
for opt in CONFIG_KPROBES CONFIG_DEBUG_INFO_BTF CONFIG_SERIAL_8250_CONSOLE CONFIG_DEVTMPFS CONFIG_RD_GZIP; do
  if ! grep -q "^$opt=y" "$cache/config"; then
    say "the cached kernel ($(cat "$cache/package")) lacks $opt=y" >&2
    exit 1
  fi
done
say "kernel $(cat "$cache/package")"

# The initramfs.
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,l7tap,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$root/bin/busybox"
bins=("$build/l7tap" "$build/fixtures/http_server" "$build/fixtures/http_client")
[ "$task" = probe-cost ] && bins+=("$build/benchmarks/probe_cost_loop")
cp "${bins[@]}" "$root/l7tap/"
for b in "${bins[@]}"; do
  if ldd "$b" | grep -q 'not found'; then
    say "$b has unresolved libraries:" >&2
    ldd "$b" >&2
    exit 1
  fi
  ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
done | sort -u | while read -r lib; do
  cp -L "$lib" "$root/lib/x86_64-linux-gnu/$(basename "$lib")"
  case $lib in */ld-linux-x86-64.so.2) cp -L "$lib" "$root/lib64/ld-linux-x86-64.so.2" ;; esac
done
cp "$here/init.sh" "$root/init"
chmod 755 "$root/init"
uprobe_offset=0
if [ "$task" = probe-cost ]; then
  # f_nop's file offset: a uprobe on a nop is emulated (one trap), like the host table's nop row.
  uprobe_offset=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import probe_cost; print(hex(probe_cost.symbol_offsets(sys.argv[2])["f_nop"]))' "$here/../../benchmarks" "$build/benchmarks/probe_cost_loop")
fi
cat >"$root/test.env" <<EOF
MODES="${modes[*]}"
TASK=$task
UPROBE_OFFSET=$uprobe_offset
KEEPALIVE=$keepalive
ONESHOT=$oneshot
BASE_PORT=18080
METRICS_PORT=9464
EOF
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$tmp/initrd.gz"

# Boot. The guest powers off when done; a panic (/init dying, or a soft lockup: softlockup_panic) reboots,
# which -no-reboot turns into an exit. ttyS0 carries the kernel's console (warnings and backtraces:
# loglevel=5), ttyS1 the guest script's output.
# TCG occasionally trips over the kernel's own int3-based code patching (text_poke_bp: a vCPU takes the
# temporary int3 after the patch is complete, and the kernel, finding no patch in progress, oopses "int3"):
# seen with 6.12 at boot, and when a static key flips in perf_event_open. Only these signatures get a second
# boot, each reported here: a panic before /init ran (nothing of l7tap had run), or an int3 oops whose RIP is
# not where l7tap puts kprobes (the probed syscall entries, the kprobe and BPF machinery). An oops at a probed
# function, or any other failure, fails the first time.
flake() {
  local kernel=$1 console=$2 rip
  if ! grep -aq '^L7TAP-KERNEL ' "$console" && grep -aq 'Kernel panic' "$kernel"; then
    echo "a kernel panic before /init: $(grep -a -m1 'Kernel panic' "$kernel")"
    return 0
  fi
  grep -aqE 'int3: [0-9a-f]{4} \[#' "$kernel" || return 1
  rip=$(grep -a -m1 -A8 -E 'int3: [0-9a-f]{4} \[#' "$kernel" | grep -a -m1 -oE 'RIP: [0-9a-f]{4}:[^ ]+' || true)
  [ -n "$rip" ] || return 1
  if [[ $rip =~ (__x64_sys_|__ia32_sys_|__se_sys_|__do_sys_|kprobe|kretprobe|bpf_|ftrace) ]]; then
    return 1
  fi
  echo "an unclaimed int3 in the kernel's own code ($rip), not at a kprobe"
  return 0
}
for attempt in 1 2; do
  say "booting under qemu (TCG, timeout ${qemu_timeout}s)"
  started=$(date +%s)
  timeout -k 10 "$qemu_timeout" qemu-system-x86_64 -accel tcg -m 2048 -smp 2 \
    -display none -monitor none -nic none -no-reboot \
    -serial "file:$tmp/kernel.raw" -serial "file:$tmp/console.raw" \
    -kernel "$cache/vmlinuz" -initrd "$tmp/initrd.gz" \
    -append "console=ttyS0 loglevel=5 panic=-1 softlockup_panic=1" </dev/null &
  qemu_pid=$!
  qemu_rc=0
  wait "$qemu_pid" || qemu_rc=$?
  qemu_pid=
  elapsed=$(($(date +%s) - started))
  touch "$tmp/console.raw" "$tmp/kernel.raw" # absent if qemu never started
  tr -d '\r' <"$tmp/console.raw" >"$tmp/console.txt"
  tr -d '\r' <"$tmp/kernel.raw" >"$tmp/kernel.txt"
  cp "$tmp/console.txt" "$build/kernel-cache/console-$series.log"
  cp "$tmp/kernel.txt" "$build/kernel-cache/kernel-$series.log"
  if [ "$attempt" -eq 1 ] && why=$(flake "$tmp/kernel.txt" "$tmp/console.txt"); then
    cp "$tmp/kernel.txt" "$build/kernel-cache/kernel-$series.tcg-flake.log"
    say "RETRY: emulator flake on the first boot: $why (kernel-$series.tcg-flake.log); booting again"
    rm -f "$tmp/console.raw" "$tmp/kernel.raw"
    continue
  fi
  break
done

section() { sed -n "/^L7TAP-$1-BEGIN$2/,/^L7TAP-$1-END$2/p" "$tmp/console.txt"; }

fail=0
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
  say "qemu did not finish within ${qemu_timeout}s"
  fail=1
fi
grep -a '^L7TAP-KERNEL ' "$tmp/console.txt" || { say "the guest never reached /init"; fail=1; }
if [ "$task" = probe-cost ]; then
  grep -a '^L7TAP-PROBECOST ' "$tmp/console.txt" || { say "no probe cost measured"; fail=1; }
fi
expected=$((keepalive + oneshot))
# Links: 16 syscalls' entry and exit kprobes, close, process exec and exit tracepoints, the fd lifecycle's dup,
# dup2, dup3, fcntl, execve, execveat, splice (entry and exit) and close_range kprobes, mmap's entry (holding),
# and io_uring's submission tracepoint where the kernel has it under its 5.19+ name (6.12, not 6.1).
links=52
[ "$series" = 6.1 ] && links=51
for mode in "${modes[@]}"; do
  want="L7TAP-RESULT mode=$mode backend=kprobe ready=1 probes=$links server=$expected client=$expected lost=0 keepalive=ok:$keepalive oneshot=ok:$oneshot exit=0"
  got=$(grep -a "^L7TAP-RESULT mode=$mode " "$tmp/console.txt" | tail -n 1 || true)
  grep -a "^L7TAP-TIMING mode=$mode " "$tmp/console.txt" || true
  if [ "$got" = "$want" ]; then
    say "PASS --syscall-probes=$mode: $got"
  else
    say "FAIL --syscall-probes=$mode"
    echo "  expected: $want"
    echo "  got:      ${got:-(no result line)}"
    section LOG " mode=$mode"
    section METRICS " mode=$mode"
    fail=1
  fi
done
# The kernel's own kretprobe miss count is read where it reports one (link info, 6.7+): 6.12 yes, 6.1 no.
kmissed=$(grep -a -c '^l7tap_kretprobes_missed_total 0$' "$tmp/console.txt" || true)
kwant=0
[ "$series" = 6.12 ] && kwant=${#modes[@]}
if [ "$kmissed" != "$kwant" ]; then
  say "FAIL: l7tap_kretprobes_missed_total 0 reported by $kmissed runs, expected $kwant"
  fail=1
fi
if ! grep -aq '^L7TAP-DONE' "$tmp/console.txt"; then
  say "the guest did not finish its run"
  fail=1
fi
if [ $fail -ne 0 ]; then
  section DMESG ""
  if ! grep -aq '^L7TAP-RESULT ' "$tmp/console.txt"; then
    echo "--- guest script output (last 60 lines) ---"
    tail -n 60 "$tmp/console.txt"
  fi
  echo "--- kernel console (last 150 lines) ---"
  tail -n 150 "$tmp/kernel.txt"
  say "failed after ${elapsed}s in qemu (logs: $build/kernel-cache/{console,kernel}-$series.log)"
  exit 1
fi
say "passed in ${elapsed}s in qemu"
