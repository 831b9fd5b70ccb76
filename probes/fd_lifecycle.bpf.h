/* File descriptor identity: what ends, shares or moves a followed socket's fd without close() or the read and
 * write calls (dup2/dup3 onto it, dup of it, close_range, close-on-exec at execve, splice, io_uring). Only these rarer
 * syscalls pay for it; the read/write probes are unchanged. Included after syscalls.bpf.h (uses on_close). */
#pragma once

#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#define FD_WORDS_PER_WALK 16384 /* 1M fds: a walk of the fd bitmaps reads at most this many words */
#define FD_EXEC_MAX 32          /* followed close-on-exec sockets remembered per execve */

enum fd_op_kind { FD_OP_DUP = 1, FD_OP_DUP2 = 2 };

/* A thread's fd operation in progress (entry seen, exit not yet), and the followed close-on-exec sockets of
 * an execve in progress. Task storage of the threads that make these calls only. */
struct fd_op {
  __s32 oldfd;
  __s32 newfd;
  __u8 kind; /* enum fd_op_kind; 0: none */
  __u8 exec_overflow;
  __u16 exec_n;
  __s32 exec_fds[FD_EXEC_MAX];
};

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct fd_op);
} fd_ops SEC(".maps");

static __always_inline struct fd_op* current_fd_op(bool create) {
  return bpf_task_storage_get(&fd_ops, bpf_get_current_task_btf(), 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline struct l7tap_conn_info* lookup_conn(__u32 tgid, __s32 fd) {
  __u64 key = l7tap_conn_key(tgid, fd);
  return bpf_map_lookup_elem(&conns, &key);
}

/* ---- dup, dup2, dup3, fcntl(F_DUPFD*) ---- */

static __always_inline void enter_dup(__s32 oldfd, __s32 newfd, __u8 kind) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  __u32 tgid = pid_tgid >> 32;
  /* Only calls that touch a followed fd: the duplicated one, or (dup2/dup3) the one replaced. */
  if (!lookup_conn(tgid, oldfd) && (kind != FD_OP_DUP2 || oldfd == newfd || !lookup_conn(tgid, newfd))) return;
  struct fd_op* op = current_fd_op(true);
  if (!op) {
    count(L7TAP_CNT_NO_THREAD_STATE, 1);
    return;
  }
  op->oldfd = oldfd;
  op->newfd = newfd;
  op->kind = kind;
}

/* A socket with two fds is one byte stream read and written through either: l7tap follows per fd, so neither
 * fd's positions count every byte. Both are marked shared: each of their events says bytes may have moved
 * unseen before it (never a stream stitched from two fds as if whole), until one of the two is closed. */
static __always_inline void mark_shared(struct l7tap_conn_info* ci, __s32 other) {
  /* One other fd is remembered; a third makes it unknown (then the marks stay until this fd closes). */
  ci->shared_with = ci->flags & L7TAP_CONN_SHARED ? 0 : (__u32)other + 1;
  ci->flags |= L7TAP_CONN_SHARED;
  ci->unseen[0] = ci->unseen[1] = 1;
}

/* fd, shared with one other fd, is being closed: that one holds the whole stream from here (after a gap). */
static __noinline void end_share(__u32 tgid, __s32 fd, __u32 shared_with) {
  if (!shared_with) return;
  __u64 key = l7tap_conn_key(tgid, (__s32)(shared_with - 1));
  struct l7tap_conn_info* other = bpf_map_lookup_elem(&conns, &key);
  if (!other || !(other->flags & L7TAP_CONN_SHARED) || other->shared_with != (__u32)fd + 1) return;
  other->flags &= ~L7TAP_CONN_SHARED;
  other->shared_with = 0;
  other->unseen[0] = other->unseen[1] = 1;
}

static __always_inline void exit_dup(long ret) {
  struct fd_op* op = current_fd_op(false);
  if (!op || !op->kind) return;
  const __u8 kind = op->kind;
  const __s32 oldfd = op->oldfd;
  op->kind = 0;
  if (ret < 0) return;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  const __s32 newfd = (__s32)ret;
  /* dup2/dup3 closed what newfd held (a followed socket's connection ends there, as at close()). */
  if (kind == FD_OP_DUP2 && newfd != oldfd) on_close(newfd);
  struct l7tap_conn_info* old = lookup_conn(tgid, oldfd);
  if (!old) return;
  mark_shared(old, newfd);
  count(L7TAP_CNT_FD_SHARED, 1);
  struct l7tap_conn_info* dup = register_conn(pid_tgid, newfd, L7TAP_ROLE_UNKNOWN);
  if (dup) mark_shared(dup, oldfd);
}

/* ---- fd bitmap walks: close_range, close-on-exec ---- */

enum fd_walk_kind { WALK_CLOSE = 1, WALK_CLOEXEC = 2 };

struct fd_walk {
  unsigned long* open;
  unsigned long* cloexec;
  __u64 first, last; /* fds, inclusive */
  __u32 tgid;
  __u8 kind;
};

/* One open fd of a walk: ends (WALK_CLOSE) or remembers (WALK_CLOEXEC, in the thread's fd_op) its connection
 * if followed. A global function, so the verifier checks it once rather than at each of a word's 64 bits;
 * scalars only (older verifiers take no NULL for a global function's pointer). */
__noinline int walk_one_fd(__u32 tgid, __s32 fd, __u32 kind) {
  if (!lookup_conn(tgid, fd)) return 0;
  if (kind == WALK_CLOSE) {
    on_close(fd);
    return 0;
  }
  struct fd_op* op = current_fd_op(false);
  if (!op) return 0;
  const __u16 n = op->exec_n;
  if (n < FD_EXEC_MAX) {
    op->exec_fds[n & (FD_EXEC_MAX - 1)] = fd;
    op->exec_n = n + 1;
  } else {
    op->exec_overflow = 1;
  }
  return 0;
}

/* One word of the bitmaps (64 fds): bpf_loop's callback. */
static long walk_fd_word(__u64 i, void* data) {
  struct fd_walk* w = data;
  const __u64 base = (w->first / 64 + i) * 64;
  if (base > w->last) return 1;
  unsigned long bits = 0, cloexec = ~0UL;
  if (bpf_probe_read_kernel(&bits, sizeof(bits), &w->open[base / 64])) return 1;
  if (w->kind == WALK_CLOEXEC && bpf_probe_read_kernel(&cloexec, sizeof(cloexec), &w->cloexec[base / 64]))
    return 1;
  bits &= cloexec;
  /* Bits outside [first, last] (the range's first and last words). */
  if (base < w->first) bits &= ~0UL << (w->first - base);
  if (w->last - base < 63) bits &= ~0UL >> (63 - (w->last - base));
  for (int b = 0; b < 64; b++) {
    if (!bits) break;
    if (bits & 1) walk_one_fd(w->tgid, (__s32)(base + b), w->kind);
    bits >>= 1;
  }
  return 0;
}

static __noinline void walk_fds(__u32 tgid, __u64 first, __u64 last, __u8 kind) {
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  struct fdtable* fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return;
  const __u32 max_fds = BPF_CORE_READ(fdt, max_fds);
  if (!max_fds || first >= max_fds) return;
  if (last >= max_fds) last = max_fds - 1;
  struct fd_walk w = {.open = BPF_CORE_READ(fdt, open_fds),
                      .cloexec = BPF_CORE_READ(fdt, close_on_exec),
                      .first = first,
                      .last = last,
                      .tgid = tgid,
                      .kind = kind};
  if (have_bpf_loop) {
    bpf_loop(FD_WORDS_PER_WALK, walk_fd_word, &w, 0);
    return;
  }
  /* Kernels before 5.17: the first 1024 fds. */
#pragma clang loop unroll(disable)
  for (int i = 0; i < 16; i++)
    if (walk_fd_word(i, &w)) break;
}

/* close_range(first, last, flags): every fd in range is closed, unless CLOSE_RANGE_CLOEXEC only marks them
 * (then execve closes them: see below). It fails only for bad arguments, checked here. */
static __always_inline void enter_close_range(__u64 first, __u64 last, __u64 flags) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid) || (flags & CLOSE_RANGE_CLOEXEC) || first > last || first > 0x7fffffff) return;
  walk_fds(pid_tgid >> 32, first, last, WALK_CLOSE);
}

/* execve closes the close-on-exec fds once it cannot fail any more, with no close() call: the followed ones
 * are remembered at its entry and ended at sched_process_exec (a failed execve forgets them). */
static __always_inline void enter_execve(void) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  struct fd_op* op = current_fd_op(true);
  if (!op) {
    count(L7TAP_CNT_NO_THREAD_STATE, 1);
    return;
  }
  op->exec_n = 0;
  op->exec_overflow = 0;
  walk_fds(pid_tgid >> 32, 0, 0x7fffffff, WALK_CLOEXEC);
}

static __always_inline void exit_execve(long ret) {
  if (ret >= 0) return;
  struct fd_op* op = current_fd_op(false);
  if (op) op->exec_n = 0;
}

/* From on_process_exec: the exec'ing thread (the group leader now, whichever thread called execve). */
static __noinline void close_at_exec(void) {
  struct fd_op* op = current_fd_op(false);
  if (!op) return;
  const __u16 n = op->exec_n;
  op->exec_n = 0;
  for (int i = 0; i < FD_EXEC_MAX; i++) {
    if (i >= n) break;
    on_close(op->exec_fds[i & (FD_EXEC_MAX - 1)]);
  }
  if (op->exec_overflow) {
    /* More than FD_EXEC_MAX (counted): the rest stay until the sweeper's idle expiry or a socket reusing
     * the fd (its connect or accept replaces them); a file opened at such a number meanwhile could be taken
     * for the connection's. */
    count(L7TAP_CNT_EXEC_CLOSE_OVERFLOW, 1);
    op->exec_overflow = 0;
  }
}

/* ---- splice: socket bytes moved to or from a pipe, never through a user buffer ---- */

/* Counted by length, not copied (like sendfile): positions stay exact, the bytes are a hole of known length
 * (the framing of a body holds), and each such call is counted. At most one end of a splice is a socket. */
static __always_inline void enter_splice(__s32 fd_in, __s32 fd_out) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  __u32 tgid = pid_tgid >> 32;
  __s32 fd = fd_in;
  __u8 dir = L7TAP_DIR_INGRESS;
  struct l7tap_conn_info* ci = lookup_conn(tgid, fd_in);
  if (!ci) {
    fd = fd_out;
    dir = L7TAP_DIR_EGRESS;
    ci = lookup_conn(tgid, fd_out);
  }
  if (!ci) return;
  struct thread_state* t = current_thread(true);
  if (!t) {
    count(L7TAP_CNT_NO_THREAD_STATE, 1);
    ci->unseen[dir] = 1;
    return;
  }
  note_missed_exit(t, tgid);
  if (!syscall_bytes_followed(ci)) return;
  t->call = (struct call_args){.fd = fd, .kind = CALL_SPLICE, .direction = dir};
}

/* ---- io_uring: socket operations with no syscall of their own ---- */

/* The direction an io_uring operation moves bytes of its fd (enum io_uring_op values, kernel ABI), or -1 for
 * operations that move none. */
static __always_inline int uring_direction(__u8 op) {
  switch (op) {
    case 1:  /* READV */
    case 4:  /* READ_FIXED */
    case 10: /* RECVMSG */
    case 22: /* READ */
    case 27: /* RECV */
    case 49: /* READ_MULTISHOT */
      return L7TAP_DIR_INGRESS;
    case 2:  /* WRITEV */
    case 5:  /* WRITE_FIXED */
    case 9:  /* SENDMSG */
    case 23: /* WRITE */
    case 26: /* SEND */
    case 30: /* SPLICE: its fd is the output */
    case 47: /* SEND_ZC */
    case 48: /* SENDMSG_ZC */
      return L7TAP_DIR_EGRESS;
  }
  return -1;
}

#define IOSQE_FIXED_FILE 1

/* Each submitted operation on a followed socket marks its direction: the bytes it moves are never seen, so
 * the next event says bytes moved unseen before it (marked at submission: an operation still in flight at
 * that event is not known to have moved its bytes). An fd from the ring's registered files (IOSQE_FIXED_FILE)
 * is an index, not the process's fd: not followed. Attached where the kernel has this tracepoint. */
SEC("tracepoint/io_uring/io_uring_submit_req")
int io_uring_submit(struct trace_event_raw_io_uring_submit_req* ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid) || (ctx->flags & IOSQE_FIXED_FILE)) return 0;
  const int dir = uring_direction(ctx->opcode);
  if (dir < 0) return 0;
  struct io_kiocb* req = ctx->req;
  if (!bpf_core_field_exists(req->cqe.fd)) return 0;
  const __s32 fd = BPF_CORE_READ(req, cqe.fd);
  struct l7tap_conn_info* ci = lookup_conn(pid_tgid >> 32, fd);
  if (!ci) return 0;
  ci->unseen[dir & 1] = 1;
  count(L7TAP_CNT_IO_URING, 1);
  return 0;
}

// clang-format off
SEC("tracepoint/syscalls/sys_enter_dup")
int tp_enter_dup(struct trace_event_raw_sys_enter *ctx) { enter_dup(ctx->args[0], -1, FD_OP_DUP); return 0; }
SEC("tracepoint/syscalls/sys_exit_dup")
int tp_exit_dup(struct trace_event_raw_sys_exit *ctx) { exit_dup(ctx->ret); return 0; }
SEC("tracepoint/syscalls/sys_enter_dup2")
int tp_enter_dup2(struct trace_event_raw_sys_enter *ctx) { enter_dup(ctx->args[0], ctx->args[1], FD_OP_DUP2); return 0; }
SEC("tracepoint/syscalls/sys_exit_dup2")
int tp_exit_dup2(struct trace_event_raw_sys_exit *ctx) { exit_dup(ctx->ret); return 0; }
SEC("tracepoint/syscalls/sys_enter_dup3")
int tp_enter_dup3(struct trace_event_raw_sys_enter *ctx) { enter_dup(ctx->args[0], ctx->args[1], FD_OP_DUP2); return 0; }
SEC("tracepoint/syscalls/sys_exit_dup3")
int tp_exit_dup3(struct trace_event_raw_sys_exit *ctx) { exit_dup(ctx->ret); return 0; }
SEC("tracepoint/syscalls/sys_enter_fcntl")
int tp_enter_fcntl(struct trace_event_raw_sys_enter *ctx) {
  if (ctx->args[1] == F_DUPFD || ctx->args[1] == F_DUPFD_CLOEXEC) enter_dup(ctx->args[0], -1, FD_OP_DUP);
  return 0;
}
SEC("tracepoint/syscalls/sys_exit_fcntl")
int tp_exit_fcntl(struct trace_event_raw_sys_exit *ctx) { exit_dup(ctx->ret); return 0; }
SEC("tracepoint/syscalls/sys_enter_close_range")
int tp_enter_close_range(struct trace_event_raw_sys_enter *ctx) {
  enter_close_range((__u32)ctx->args[0], (__u32)ctx->args[1], ctx->args[2]);
  return 0;
}
SEC("tracepoint/syscalls/sys_enter_execve")
int tp_enter_execve(struct trace_event_raw_sys_enter *ctx) { enter_execve(); return 0; }
SEC("tracepoint/syscalls/sys_exit_execve")
int tp_exit_execve(struct trace_event_raw_sys_exit *ctx) { exit_execve(ctx->ret); return 0; }
SEC("tracepoint/syscalls/sys_enter_execveat")
int tp_enter_execveat(struct trace_event_raw_sys_enter *ctx) { enter_execve(); return 0; }
SEC("tracepoint/syscalls/sys_exit_execveat")
int tp_exit_execveat(struct trace_event_raw_sys_exit *ctx) { exit_execve(ctx->ret); return 0; }
SEC("tracepoint/syscalls/sys_exit_splice")
int tp_exit_splice(struct trace_event_raw_sys_exit *ctx) { exit_call(ctx->ret, CALL_SPLICE, 0, 0, 0); return 0; }
SEC("tracepoint/syscalls/sys_enter_splice")
int tp_enter_splice(struct trace_event_raw_sys_enter *ctx) { enter_splice(ctx->args[0], ctx->args[2]); return 0; }

SEC("ksyscall/dup")
int BPF_KSYSCALL(ks_enter_dup, long fd) { enter_dup(fd, -1, FD_OP_DUP); return 0; }
SEC("kretsyscall/dup")
int BPF_KRETPROBE(ks_exit_dup, long ret) { exit_dup(ret); return 0; }
SEC("ksyscall/dup2")
int BPF_KSYSCALL(ks_enter_dup2, long fd, long newfd) { enter_dup(fd, newfd, FD_OP_DUP2); return 0; }
SEC("kretsyscall/dup2")
int BPF_KRETPROBE(ks_exit_dup2, long ret) { exit_dup(ret); return 0; }
SEC("ksyscall/dup3")
int BPF_KSYSCALL(ks_enter_dup3, long fd, long newfd) { enter_dup(fd, newfd, FD_OP_DUP2); return 0; }
SEC("kretsyscall/dup3")
int BPF_KRETPROBE(ks_exit_dup3, long ret) { exit_dup(ret); return 0; }
SEC("ksyscall/fcntl")
int BPF_KSYSCALL(ks_enter_fcntl, long fd, long cmd) {
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) enter_dup(fd, -1, FD_OP_DUP);
  return 0;
}
SEC("kretsyscall/fcntl")
int BPF_KRETPROBE(ks_exit_fcntl, long ret) { exit_dup(ret); return 0; }
SEC("ksyscall/close_range")
int BPF_KSYSCALL(ks_enter_close_range, long first, long last, long flags) {
  enter_close_range((__u32)first, (__u32)last, flags);
  return 0;
}
SEC("ksyscall/execve")
int BPF_KSYSCALL(ks_enter_execve, long filename) { (void)filename; enter_execve(); return 0; }
SEC("kretsyscall/execve")
int BPF_KRETPROBE(ks_exit_execve, long ret) { exit_execve(ret); return 0; }
SEC("ksyscall/execveat")
int BPF_KSYSCALL(ks_enter_execveat, long dirfd) { (void)dirfd; enter_execve(); return 0; }
SEC("kretsyscall/execveat")
int BPF_KRETPROBE(ks_exit_execveat, long ret) { exit_execve(ret); return 0; }
SEC("kretsyscall/splice")
int BPF_KRETPROBE(ks_exit_splice, long ret) { exit_call(ret, CALL_SPLICE, 0, 0, 0); return 0; }
SEC("ksyscall/splice")
int BPF_KSYSCALL(ks_enter_splice, long fd_in, long off_in, long fd_out) {
  (void)off_in;
  enter_splice(fd_in, fd_out);
  return 0;
}
// clang-format on
