/* Go crypto/tls uprobes: crypto/tls.(*Conn).Read and (*Conn).Write, Go >= 1.17 (register ABI) on x86-64.
 * Never uretprobes: Go moves goroutine stacks, and a uretprobe's rewritten return address would move with
 * them into garbage. Probes sit just past each function's stack-growth check (user space finds it), which
 * every call passes exactly once; the entry itself runs again after morestack grows the stack. Registers
 * there still hold the arguments: receiver RAX (*tls.Conn), slice b in RBX (ptr) and RCX (len). Write: the
 * plaintext is copied there, before any of it reaches the socket, so a request is always emitted before the
 * response another goroutine reads. Read: the call is remembered by goroutine (the g pointer, kept in R14; a
 * goroutine that blocks may resume on another thread), and a uprobe on each RET instruction copies the
 * returned n (RAX) bytes. The fd is read through the *tls.Conn with per-binary struct offsets: the attach
 * cookie names the binary's slot in go_offsets, which user space may correct after attaching. */
#pragma once

/* A goroutine whose Read never returns (it unwound) keeps its entry until the goroutine's next Read replaces
 * it (the runtime reuses g structs) or its process goes (the sweeper); a Read may block as long as its
 * connection idles, so age alone never removes one. A full table refuses a new call (counted). */
#define EEXIST 17
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_MAX_GO_CALLS);
  __type(key, struct l7tap_go_call_key);
  __type(value, struct l7tap_go_call);
} go_calls SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, L7TAP_MAX_GO_BINARIES);
  __type(key, __u32);
  __type(value, struct l7tap_go_offsets);
} go_offsets SEC(".maps");

/* *tls.Conn -> conn interface's data word (*net.TCPConn) -> *netFD -> pfd.Sysfd. -1 when any read faults; -2
 * when the descriptor is closed (Go sets Sysfd to -1 once no call uses it). */
static __always_inline __s32 go_conn_fd(__u64 conn, __u32 slot) {
  struct l7tap_go_offsets* o = bpf_map_lookup_elem(&go_offsets, &slot);
  if (!o || !o->valid) return -1;
  __u64 tcp_conn = 0, net_fd = 0;
  __s64 sysfd = -1;
  if (bpf_probe_read_user(&tcp_conn, sizeof(tcp_conn), (void*)(conn + o->tls_conn_conn + 8)) || !tcp_conn)
    return -1;
  if (bpf_probe_read_user(&net_fd, sizeof(net_fd), (void*)(tcp_conn + o->net_conn_fd)) || !net_fd) return -1;
  if (bpf_probe_read_user(&sysfd, sizeof(sysfd), (void*)(net_fd + o->sysfd))) return -1;
  if (sysfd == -1) return -2;
  return sysfd >= 0 && sysfd <= 0x7fffffff ? (__s32)sysfd : -1;
}

/* Plaintext of one Read or Write on a *tls.Conn: found by its fd, tagged TLS, sent. */
static __always_inline void go_tls_emit(__u64 pid_tgid, __u32 slot, __u64 conn, __u64 buf, __s64 n,
                                        __u8 dir) {
  if (n <= 0) return;
  __s32 fd = go_conn_fd(conn, slot);
  /* A Write entered on a closed connection (a Transport closing a surplus dial while its writer still runs)
   * fails without moving a byte: nothing is lost. */
  if (fd == -2) return;
  if (fd < 0) {
    count(L7TAP_CNT_GO_CONN_UNREADABLE, 1);
    return;
  }
  struct l7tap_conn_info* ci = find_conn(pid_tgid, fd);
  if (!ci) {
    if (!conn_skipped(pid_tgid >> 32, fd)) count(L7TAP_CNT_TLS_NO_CONN, 1);
    return;
  }
  plaintext_source(ci);
  if (is_muted(l7tap_conn_key(pid_tgid >> 32, fd), ci, L7TAP_SRC_TLS)) return;
  struct scratch* s = begin_data(pid_tgid, fd, ci, L7TAP_SRC_TLS);
  if (!s) return;
  long got = copy_user(s, 0, (const void*)buf, n);
  s->ev.copied = got > 0 ? got : 0;
  s->user_buf = buf;
  finish_data(s, ci, dir, n, true);
}

/* Attach cookie (events.h): the binary's go_offsets slot, and which probe this is. One program serves them
 * all, so one multi-uprobe link per binary can carry every probe (one detach for all of them). */

SEC("uprobe")
int go_tls(struct pt_regs* ctx) {
  __u64 cookie = bpf_get_attach_cookie(ctx);
  __u32 slot = (__u32)cookie, probe = (__u32)(cookie >> L7TAP_COOKIE_GO_PROBE_SHIFT) & 0xff;
  count_hit(ctx);
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct l7tap_go_call_key key = {.g = ctx->r14, .tgid = pid_tgid >> 32};
  if (probe == L7TAP_GO_PROBE_WRITE) {
    if (traced(pid_tgid)) go_tls_emit(pid_tgid, slot, ctx->ax, ctx->bx, ctx->cx, L7TAP_DIR_EGRESS);
  } else if (probe == L7TAP_GO_PROBE_READ_ENTER) {
    if (!traced(pid_tgid)) return 0;
    struct l7tap_go_call c = {.conn = ctx->ax, .buf = ctx->bx, .ts_ns = bpf_ktime_get_ns()};
    long err = bpf_map_update_elem(&go_calls, &key, &c, BPF_NOEXIST);
    if (err == -EEXIST) {
      /* This goroutine's last Read never reached a RET probe (it unwound): its bytes went unseen. */
      count(L7TAP_CNT_GO_RETURN_MISSED, 1);
      struct l7tap_go_call* stale = bpf_map_lookup_elem(&go_calls, &key);
      __s32 fd = stale ? go_conn_fd(stale->conn, slot) : -1;
      if (fd >= 0) mark_unseen(key.tgid, fd, L7TAP_DIR_INGRESS);
      err = bpf_map_update_elem(&go_calls, &key, &c, BPF_ANY);
    }
    if (err) {
      count(L7TAP_CNT_GO_CALLS_FULL, 1);
      __s32 fd = go_conn_fd(c.conn, slot);
      if (fd >= 0) mark_unseen(key.tgid, fd, L7TAP_DIR_INGRESS);
    }
  } else {
    struct l7tap_go_call* p = bpf_map_lookup_elem(&go_calls, &key);
    if (!p) return 0;
    struct l7tap_go_call c = *p;
    bpf_map_delete_elem(&go_calls, &key);
    go_tls_emit(pid_tgid, slot, c.conn, c.buf, ctx->ax, L7TAP_DIR_INGRESS);
  }
  return 0;
}

/* crypto/tls.(*Config).writeKeyLog(label string, clientRandom, secret []byte), at its entry (once per secret
 * per handshake; called whether or not a KeyLogWriter is set). Register ABI: RAX the *Config, label in RBX
 * (ptr) and RCX (len), clientRandom in RDI, RSI, R8, secret in R9, R10, R11. */
SEC("uprobe")
int go_keylog(struct pt_regs* ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  count_hit(ctx);
  if (!traced(pid_tgid)) return 0;
  struct l7tap_secret_event* ev = secret_begin(pid_tgid, L7TAP_HOOK_GO_WRITE_KEY_LOG);
  if (!ev) return 0;
  __u64 label_len = ctx->cx;
  bool ok = label_len > 0 && label_len < L7TAP_TLS_LABEL_LEN && ctx->si == L7TAP_TLS_RANDOM_LEN;
  __builtin_memset(ev->label, 0, sizeof(ev->label));
  /* Masked where the verifier sees it (the compiler would drop a mask the test above makes redundant). */
  barrier_var(label_len);
  label_len &= L7TAP_TLS_LABEL_LEN - 1;
  if (ok && bpf_probe_read_user(ev->label, label_len, (const void*)ctx->bx)) ok = false;
  if (ok && bpf_probe_read_user(ev->client_random, L7TAP_TLS_RANDOM_LEN, (const void*)ctx->di)) ok = false;
  ev->has_random = 1;
  secret_finish(ev, (const void*)ctx->r9, ctx->r10, ok);
  return 0;
}
