#!/bin/busybox sh
# /init of the initramfs that tests/kernel/run_kernel_test.sh boots under qemu. It runs l7tap against the
# HTTP fixtures once per syscall-probe mode listed in /test.env, prints one result line per mode
# ("L7TAP-RESULT mode=... backend=... server=N client=N lost=N ...") and the agent's log between markers,
# then powers the machine off. The host script decides pass or fail from those lines. They go to the second
# serial port (ttyS1), so kernel messages on the console (ttyS0) never cut into them.
/bin/busybox --install -s /bin
export PATH=/bin LD_LIBRARY_PATH=/lib/x86_64-linux-gnu

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
[ -c /dev/ttyS1 ] && exec >/dev/ttyS1 2>&1
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing
# A soft lockup (the kernel command line makes it panic) shows every CPU's backtrace.
echo 1 >/proc/sys/kernel/softlockup_all_cpu_backtrace
ip link set lo up

. /test.env # MODES KEEPALIVE ONESHOT BASE_PORT METRICS_PORT

metrics() { wget -qO- "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null; }

# Sum of a metric's samples whose line matches every extra regex given.
metric_sum() {
  name=$1
  shift
  metrics | awk -v name="$name" -v pats="$*" '
    BEGIN { n = split(pats, p, " ") }
    index($0, name) == 1 && (substr($0, length(name) + 1, 1) == "{" || substr($0, length(name) + 1, 1) == " ") {
      for (i = 1; i <= n; i++) if ($0 !~ p[i]) next
      s += $NF
    }
    END { printf "%d\n", s }'
}

# Waits until 127.0.0.1:$1 has a listening TCP socket (read from /proc: no connection, so nothing to trace).
wait_listen() {
  hex=$(printf ':%04X ' "$1")
  i=0
  while [ $i -lt 300 ]; do
    awk -v h="$hex" '$4 == "0A" && index($2 " ", h) { found = 1 } END { exit !found }' /proc/net/tcp && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

echo "L7TAP-KERNEL release=$(uname -r) kprobe_pmu=$([ -e /sys/bus/event_source/devices/kprobe/type ] && echo yes || echo no) btf=$([ -e /sys/kernel/btf/vmlinux ] && echo yes || echo no) cpus=$(nproc)"

# Per-hit cost of each probe kind in this kernel (TASK=probe-cost): mean ns per call of probe_cost_loop with
# and without the probe, through tracefs as benchmarks/probe_cost.py does on the host, three rounds. Under TCG
# the CPU is emulated: only the kinds' ratios mean anything.
probe_cost() {
  t=/sys/kernel/tracing
  loop=/l7tap/probe_cost_loop
  n=200000
  echo 0 >$t/tracing_on # probes still fire; nothing is written to the trace buffer
  kfunc=$(awk '$3 == "__x64_sys_getppid" { print $3; exit }' /proc/kallsyms)
  echo "p:l7tapcost/kp $kfunc" >>$t/kprobe_events
  echo "p:l7tapcost/up $loop:$UPROBE_OFFSET" >>$t/uprobe_events
  for round in 1 2 3; do
    base=$($loop getppid $n | tail -n 1)
    echo 1 >$t/events/syscalls/sys_enter_getppid/enable
    tp=$($loop getppid $n | tail -n 1)
    echo 0 >$t/events/syscalls/sys_enter_getppid/enable
    echo 1 >$t/events/l7tapcost/kp/enable
    kp=$($loop getppid $n | tail -n 1)
    echo 0 >$t/events/l7tapcost/kp/enable
    nop=$($loop f_nop $n | tail -n 1)
    echo 1 >$t/events/l7tapcost/up/enable
    up=$($loop f_nop $n | tail -n 1)
    echo 0 >$t/events/l7tapcost/up/enable
    hits=$(awk '$1 == "l7tapcost/kp" || $1 == "kp" { print $2 }' $t/kprobe_profile | head -n 1)
    echo "L7TAP-PROBECOST round=$round release=$(uname -r) n=$n getppid=$base tracepoint=$tp kprobe=$kp kprobe_hits=$hits nop=$nop uprobe=$up"
  done
  echo "-:l7tapcost/kp" >>$t/kprobe_events
  echo "-:l7tapcost/up" >>$t/uprobe_events
}
[ "${TASK:-agent}" = probe-cost ] && probe_cost

expected=$((KEEPALIVE + ONESHOT))
port=$BASE_PORT
for mode in $MODES; do
  port=$((port + 1))
  log=/tmp/l7tap-$mode.log
  start=$(cut -d' ' -f1 /proc/uptime)
  /l7tap/l7tap --listen "127.0.0.1:$METRICS_PORT" --syscall-probes="$mode" --verbose >"$log" 2>&1 &
  agent=$!

  ready=0
  i=0
  while [ $i -lt 1200 ]; do # up to 120 s: the verifier is slow under TCG
    kill -0 $agent 2>/dev/null || break
    if metrics | grep -q '^l7tap_ready 1'; then ready=1; break; fi
    sleep 0.1
    i=$((i + 1))
  done
  ready_at=$(cut -d' ' -f1 /proc/uptime)

  server=0 client=0 lost=-1 probes=0 backend=none ka=none os=none
  if [ $ready = 1 ]; then
    backend=$(metrics | sed -n 's/^l7tap_syscall_backend_info{backend="\([a-z]*\)"} 1$/\1/p' | head -n 1)
    /l7tap/http_server --port $port >/tmp/server-$mode.log 2>&1 &
    srv=$!
    if wait_listen $port; then
      ka=$(timeout 120 /l7tap/http_client --port $port --mode keepalive --count "$KEEPALIVE" --expect-status 200 2>&1 | tr ' \n' ':,' | sed 's/,$//')
      os=$(timeout 120 /l7tap/http_client --port $port --mode oneshot --count "$ONESHOT" --expect-status 200 2>&1 | tr ' \n' ':,' | sed 's/,$//')
    fi
    # Wait for both sides to reach the expected count, then let late events land so over-counting shows.
    i=0
    while [ $i -lt 600 ]; do
      server=$(metric_sum http_server_request_duration_seconds_count 'service_name="http_server"' "server_port=\"$port\"")
      client=$(metric_sum http_client_request_duration_seconds_count 'service_name="http_client"' "server_port=\"$port\"")
      [ "$server" -ge $expected ] && [ "$client" -ge $expected ] && break
      sleep 0.1
      i=$((i + 1))
    done
    sleep 2
    server=$(metric_sum http_server_request_duration_seconds_count 'service_name="http_server"' "server_port=\"$port\"")
    client=$(metric_sum http_client_request_duration_seconds_count 'service_name="http_client"' "server_port=\"$port\"")
    lost=$(metric_sum l7tap_events_lost_total)
    probes=$(metric_sum l7tap_probes_attached)
    echo "L7TAP-METRICS-BEGIN mode=$mode"
    metrics | grep -E '^(l7tap_|http_(server|client)_request_duration_seconds_count)'
    echo "L7TAP-METRICS-END mode=$mode"
    kill $srv 2>/dev/null
    wait $srv 2>/dev/null
  fi

  kill -TERM $agent 2>/dev/null
  wait $agent
  rc=$?
  # The agent's own lines and libbpf's complaints; the tail of the whole --verbose log (verifier and attach
  # diagnostics) too when this run went wrong.
  echo "L7TAP-LOG-BEGIN mode=$mode"
  grep -v '^libbpf: ' "$log" | tail -n 100
  grep -iE '^libbpf: .*(warn|fail|error|invalid|cannot|unable|denied|not supported|-E[A-Z]+)' "$log" | tail -n 50
  if [ $ready != 1 ] || [ "$backend" != kprobe ] || [ $server != $expected ] || [ $client != $expected ] ||
    [ $lost != 0 ] || [ $rc != 0 ]; then
    echo "--- l7tap --verbose, last 200 lines ---"
    tail -n 200 "$log"
  fi
  echo "L7TAP-LOG-END mode=$mode"
  echo "L7TAP-TIMING mode=$mode start=$start ready=$ready_at"
  echo "L7TAP-RESULT mode=$mode backend=$backend ready=$ready probes=$probes server=$server client=$client lost=$lost keepalive=$ka oneshot=$os exit=$rc"
done

echo "L7TAP-DMESG-BEGIN"
dmesg | grep -iE 'bpf|kprobe|warn|error|fail|bug|oops' | tail -n 60
echo "L7TAP-DMESG-END"
echo "L7TAP-DONE"
sync
sleep 1 # let the serial port drain
poweroff -f
