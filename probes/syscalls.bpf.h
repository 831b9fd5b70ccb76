/* Socket syscalls: remember arguments at entry, emit what moved at exit. Both backends call this logic. */
#pragma once

/* ---- enter: remember the arguments of calls on followed sockets ---- */

/* Inside a TLS library call: this fd is that call's connection, and it is encrypted. */
static __always_inline void note_tls_fd(struct tls_call* tls, struct l7tap_conn_info* ci, __s32 fd) {
  if (tls->fd < 0) {
    tls->fd = fd;
  } else if (tls->fd != fd && !tls->mismatch_counted) {
    tls->mismatch_counted = 1;
    count(L7TAP_CNT_TLS_FD_MISMATCH, 1);
  }
  ci->flags |= L7TAP_CONN_TLS;
}

#define MSG_PEEK 2

/* A followed call still recorded when the thread enters the next one: its exit never ran (a kretprobe the
 * kernel missed). Its bytes were never seen, and its connection is told so. */
static __always_inline void note_missed_exit(struct thread_state* t, __u32 tgid) {
  if (!t->call.kind) return;
  count(L7TAP_CNT_SYSCALL_RETURN_MISSED, 1);
  if (t->call.kind != CALL_CONNECT && t->call.kind != CALL_ACCEPT) mark_unseen(tgid, t->call.fd, t->call.direction);
  t->call.kind = 0;
}

/* The port a send names (sendto's dest_addr, the msghdr's msg_name, the first message's of a sendmmsg), 0 when
 * none or unreadable. */
static __always_inline __u16 send_port(__u8 kind, __u64 ptr, __u64 addr) {
  if (kind == CALL_MSG)
    bpf_probe_read_user(&addr, sizeof(addr), &((const struct user_msghdr*)ptr)->msg_name);
  else if (kind == CALL_MMSG)
    bpf_probe_read_user(&addr, sizeof(addr), &((const struct mmsghdr*)ptr)->msg_hdr.msg_name);
  else if (kind != CALL_BUF)
    return 0;
  __u16 head[2] = {}; /* family, port (network byte order) */
  if (!addr || bpf_probe_read_user(head, sizeof(head), (const void*)addr)) return 0;
  return head[0] == AF_INET || head[0] == AF_INET6 ? bpf_ntohs(head[1]) : 0;
}

/* Whether a call's bytes are sent. A UDP socket whose own and connected ports are not DNS ports (unconnected:
 * musl's resolver, a Python client's sendto) has a call followed when its datagram may be DNS: a send naming a
 * DNS port, and receives once it has sent one (L7TAP_CONN_DNS_PEER); the exit judges each datagram by its own
 * peer. Other UDP costs these tests and nothing more. */
static __always_inline bool call_followed(struct l7tap_conn_info* ci, __u8 kind, __u8 dir, __u64 ptr,
                                          __u64 addr) {
  if (syscall_bytes_followed(ci)) return true;
  if ((ci->flags & (L7TAP_CONN_UDP | L7TAP_CONN_TLS)) != L7TAP_CONN_UDP) return false;
  if (dir == L7TAP_DIR_INGRESS) return ci->flags & L7TAP_CONN_DNS_PEER;
  if (!is_dns_port(send_port(kind, ptr, addr))) return false;
  ci->flags |= L7TAP_CONN_DNS_PEER;
  return true;
}

/* `addr`: sendto's dest_addr or recvfrom's src_addr (0 for calls without one). */
static __always_inline void enter_io(__s32 fd, __u64 ptr, __u64 cnt, __u64 flags, __u8 kind, __u8 dir,
                                     __u64 addr) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  /* Peeked bytes stay in the socket and are read again: they are not part of the stream yet. */
  if ((flags & MSG_PEEK) || !traced(pid_tgid)) return;
  struct l7tap_conn_info* ci = find_conn(pid_tgid, fd);
  if (!ci) return;
  struct thread_state* t = current_thread(true);
  if (!t) {
    /* No state: the exit recovers the call from the registers, or (kprobes) its bytes go unseen. */
    if (!recover_at_exit && syscall_bytes_followed(ci)) {
      count(L7TAP_CNT_NO_THREAD_STATE, 1);
      ci->unseen[dir & 1] = 1;
    }
    return;
  }
  note_missed_exit(t, pid_tgid >> 32);
  if (t->tls.kind) note_tls_fd(&t->tls, ci, fd);
  /* Ciphertext is never sent; UDP that is not DNS costs the tests above and nothing more. */
  if (!call_followed(ci, kind, dir, ptr, addr)) return;
  t->call = (struct call_args){.ptr = ptr, .count = cnt, .addr = addr, .fd = fd, .kind = kind, .direction = dir};
}

static __always_inline void enter_conn(__s32 fd, __u8 kind) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  struct thread_state* t = current_thread(true);
  if (!t) {
    if (!recover_at_exit) count(L7TAP_CNT_NO_THREAD_STATE, 1);  /* registered at its first I/O instead */
    return;
  }
  note_missed_exit(t, pid_tgid >> 32);
  t->call = (struct call_args){.fd = fd, .kind = kind};
}

/* One iovec segment per call: bpf_loop's callback, which the verifier checks once rather than once per
 * iteration (an open-coded loop of more than a few segments exceeds its instruction budget). Returns 1 to
 * stop. */
struct iov_copy {
  struct scratch* s;
  const struct iovec* iov;
  __u64 iovcnt;
  __u64 left;
  __u64 at; /* call offset of this segment */
  __u32 off;
  bool copying; /* the copy is still a prefix of the call's bytes */
};

static long copy_iov_segment(__u64 i, void* data) {
  struct iov_copy* c = data;
  struct scratch* s = c->s;
  if (!s || i >= c->iovcnt || c->left == 0) return 1;
  const bool h2 = s->cap == L7TAP_MAX_PAYLOAD;
  if (!h2 && (!c->copying || c->off >= s->cap)) return 1;
  struct iovec seg;
  if (bpf_probe_read_user(&seg, sizeof(seg), &c->iov[i])) return 1;
  __u64 n = seg.iov_len < c->left ? seg.iov_len : c->left;
  /* The segments' places, for an HTTP/2 frame walk (state.bpf.h): past the copy too on HTTP/2 connections,
   * and on any other since the call that reveals HTTP/2 (its preface) is walked too. */
  if (i < H2_SEGS) {
    s->seg_start[i & (H2_SEGS - 1)] = c->at;
    s->seg_base[i & (H2_SEGS - 1)] = (__u64)seg.iov_base;
    s->nsegs = (__u32)i + 1;
  }
  if (c->copying && c->off < s->cap) {
    long got = copy_user(s, c->off, seg.iov_base, n);
    if (got < 0) {
      c->copying = false;
    } else {
      c->off += got;
      if (got < n) c->copying = false; /* cap reached */
    }
  } else {
    c->copying = false;
  }
  c->at += n;
  c->left -= n;
  return 0;
}

static __noinline void copy_iov(struct scratch* s, const struct iovec* iov, __u64 iovcnt, __u64 total) {
  if (have_bpf_loop) {
    struct iov_copy c = {.s = s, .iov = iov, .iovcnt = iovcnt, .left = total, .off = 0, .copying = true};
    bpf_loop(L7TAP_MAX_IOV, copy_iov_segment, &c, 0);
    s->ev.copied = c.off;
    return;
  }
  /* Kernels before 5.17: an open-coded loop over the first L7TAP_MIN_IOV segments. */
  __u32 off = 0;
  __u64 left = total;
#pragma clang loop unroll(disable)
  for (int i = 0; i < L7TAP_MIN_IOV; i++) {
    if (i >= iovcnt || left == 0 || off >= s->cap) break;
    struct iovec seg;
    if (bpf_probe_read_user(&seg, sizeof(seg), &iov[i])) break;
    __u64 n = seg.iov_len < left ? seg.iov_len : left;
    long got = copy_user(s, off, seg.iov_base, n);
    if (got < 0) break;
    off += got;
    left -= n;
    if (got < n) break; /* cap reached */
  }
  s->ev.copied = off;
}

static __noinline void emit_msg(struct l7tap_conn_info* ci, const struct call_args* args,
                                const struct user_msghdr* msg, __u64 length) {
  struct scratch* s = begin_data(bpf_get_current_pid_tgid(), args->fd, ci, L7TAP_SRC_SYSCALL);
  if (!s) return;
  struct iovec* iov = NULL;
  __u64 iovlen = 0;
  bpf_probe_read_user(&iov, sizeof(iov), &msg->msg_iov);
  bpf_probe_read_user(&iovlen, sizeof(iovlen), &msg->msg_iovlen);
  if (iovlen > iov_limit()) count(L7TAP_CNT_IOV_LIMIT, 1);
  copy_iov(s, iov, iovlen, length);
  if (ci->flags & L7TAP_CONN_UDP) {
    /* msg_name and msg_namelen (a receive's is the length the kernel wrote). */
    struct {
      __u64 name;
      __u32 len;
      __u32 pad;
    } nm = {};
    if (!bpf_probe_read_user(&nm, sizeof(nm), &msg->msg_name)) s->has_peer = read_peer(nm.name, nm.len, &s->peer);
  }
  finish_data(s, ci, args->direction, length, true);
}

/* A thread with no state entered no followed call since the probes were attached (or its state could not be
 * made at the entry): the call returning now began before (a server blocked in accept or read when the agent
 * started). Its arguments are still in the user registers (x86-64: di, si, dx, r10), so it is followed all
 * the same. The state is made then, so the thread's later exits take the fast path (threads that only ever
 * read files get one too: task storage, freed with the thread). Tracepoint backend only (recover_at_exit).
 * `flags_arg`: which argument holds MSG_* flags (0: none); `addr_arg`: 4 when argument 4 (r8) is a sockaddr
 * (sendto, recvfrom), else 0. */
static __always_inline bool recover_call(struct call_args* args, const __u8 kind, const __u8 dir,
                                         const int flags_arg, const int addr_arg) {
  struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(bpf_get_current_task_btf());
  if (!regs) return false;
  const __u64 flags = flags_arg == 2 ? regs->dx : flags_arg == 3 ? regs->r10 : 0;
  if (flags & MSG_PEEK) return false;
  *args = (struct call_args){.ptr = regs->si, .count = regs->dx, .addr = addr_arg == 4 ? regs->r8 : 0,
                             .fd = (__s32)regs->di, .kind = kind, .direction = dir};
  current_thread(true);
  return true;
}

/* `kind` is a constant at every call site, so each exit program keeps only its own branch: the verifier
 * then walks the iovec and mmsg loops only in the programs that need them (load time drops severalfold). */
static __always_inline void exit_call(long ret, const __u8 kind, const __u8 dir, const int flags_arg,
                                      const int addr_arg) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct thread_state* t = current_thread(false);
  struct call_args args;
  bool recovered = false;
  if (t) {
    if (!t->call.kind) return;
    args = t->call;
    t->call.kind = 0;
    if (args.kind != kind) return;
  } else {
    if (kind == CALL_SPLICE || !recover_at_exit || ret < 0 || !traced(pid_tgid) ||
        !recover_call(&args, kind, dir, flags_arg, addr_arg))
      return;
    recovered = true;
  }

  if (kind == CALL_CONNECT) {
    if (ret == 0 || ret == -EINPROGRESS) register_conn(pid_tgid, args.fd, L7TAP_ROLE_CLIENT);
    return;
  }
  if (kind == CALL_ACCEPT) {
    if (ret >= 0) register_conn(pid_tgid, (__s32)ret, L7TAP_ROLE_SERVER);
    return;
  }
  if (ret <= 0) return;
  __u64 key = l7tap_conn_key(pid_tgid >> 32, args.fd);
  /* Gone since the entry only if the sweeper took it while the call blocked (an idle keep-alive connection
   * with its reader waiting): it starts again with these bytes. */
  struct l7tap_conn_info* ci = find_conn(pid_tgid, args.fd);
  if (!ci) return;
  if (recovered && !call_followed(ci, kind, dir, args.ptr, args.addr)) return; /* what enter_io checks */
  if (is_muted(key, ci, L7TAP_SRC_SYSCALL)) return;

  if (kind == CALL_BUF) {
    struct scratch* s = begin_data(pid_tgid, args.fd, ci, L7TAP_SRC_SYSCALL);
    if (!s) return;
    long got = copy_user(s, 0, (const void*)args.ptr, ret);
    s->ev.copied = got > 0 ? got : 0;
    s->user_buf = args.ptr;
    if (addr_arg && (ci->flags & L7TAP_CONN_UDP)) s->has_peer = read_peer(args.addr, 0, &s->peer);
    finish_data(s, ci, args.direction, ret, true);
  } else if (kind == CALL_IOV) {
    struct scratch* s = begin_data(pid_tgid, args.fd, ci, L7TAP_SRC_SYSCALL);
    if (!s) return;
    if (args.count > iov_limit()) count(L7TAP_CNT_IOV_LIMIT, 1);
    copy_iov(s, (const struct iovec*)args.ptr, args.count, ret);
    finish_data(s, ci, args.direction, ret, true);
  } else if (kind == CALL_SENDFILE) {
    /* File bytes the process never sees: counted by length so body framing holds, never copied. */
    struct scratch* s = begin_data(pid_tgid, args.fd, ci, L7TAP_SRC_SYSCALL);
    if (!s) return;
    finish_data(s, ci, L7TAP_DIR_EGRESS, ret, false);
  } else if (kind == CALL_SPLICE) {
    /* splice: bytes between the socket and a pipe, never in a user buffer; counted by length, not copied. */
    struct scratch* s = begin_data(pid_tgid, args.fd, ci, L7TAP_SRC_SYSCALL);
    if (!s) return;
    count(L7TAP_CNT_SPLICE, 1);
    finish_data(s, ci, args.direction, ret, false);
  } else if (kind == CALL_MSG) {
    emit_msg(ci, &args, (const struct user_msghdr*)args.ptr, ret);
  } else if (kind == CALL_MMSG) {
    /* ret = messages moved; each reports its own byte count in msg_len. */
    struct mmsghdr* vec = (struct mmsghdr*)args.ptr;
    if (ret > L7TAP_MAX_MMSG) count(L7TAP_CNT_IOV_LIMIT, 1);
#pragma clang loop unroll(disable)
    for (int i = 0; i < L7TAP_MAX_MMSG; i++) {
      if (i >= ret) break;
      __u32 len = 0;
      if (bpf_probe_read_user(&len, sizeof(len), &vec[i].msg_len) || len == 0) continue;
      emit_msg(ci, &args, &vec[i].msg_hdr, len);
    }
  }
}

static void end_share(__u32 tgid, __s32 fd, __u32 shared_with); /* fd_lifecycle.bpf.h */

static __always_inline void on_close(__s32 fd) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  __u64 key = l7tap_conn_key(pid_tgid >> 32, fd);
  struct l7tap_conn_info* ci = bpf_map_lookup_elem(&conns, &key);
  if (!ci) return;
  if (ci->flags & L7TAP_CONN_SKIPPED) { /* user space never heard of it */
    bpf_map_delete_elem(&conns, &key);
    return;
  }
  if (ci->flags & L7TAP_CONN_SHARED) end_share(pid_tgid >> 32, fd, ci->shared_with);
  struct l7tap_close_event ev = {};
  fill_header(&ev.hdr, L7TAP_EV_CONN_CLOSE, pid_tgid);
  ev.conn.tgid = pid_tgid >> 32;
  ev.conn.fd = fd;
  ev.conn.generation = ci->generation;
  /* Losses after the last event delivered (their starts were counted in the global counters already). */
  for (int d = 0; d < 2; d++) {
    const __u64 lost = ci->lost[d] ? __sync_lock_test_and_set(&ci->lost[d], 0) : 0;
    ev.lost_events[d] = lost >> 32;
    ev.lost_starts[d] = (__u32)lost;
  }
  bpf_map_delete_elem(&conns, &key);
  bpf_map_delete_elem(&muted, &key);
  if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wakeup_flag())) count(L7TAP_CNT_RINGBUF_FULL, 1);
}

static void close_at_exec(void); /* fd_lifecycle.bpf.h */

SEC("tracepoint/sched/sched_process_exec")
int on_process_exec(struct trace_event_raw_sched_process_exec* ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (select_at_exec && (__u32)(pid_tgid >> 32) != self_tgid) verdict_at_exec(pid_tgid >> 32);
  if (traced(pid_tgid)) {
    note_exec(pid_tgid);
    close_at_exec(); /* its close-on-exec sockets are closed now */
  } else if (!select_at_exec || (__u32)(pid_tgid >> 32) == self_tgid) {
    return 0; /* else (an --exclude-pid) reported all the same: user space decides on every exec */
  }
  struct l7tap_exec_event* ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    count(L7TAP_CNT_RINGBUF_FULL, 1);
    return 0;
  }
  fill_header(&ev->hdr, L7TAP_EV_PROCESS_EXEC, pid_tgid);
  ev->tgid = pid_tgid >> 32;
  ev->pad = 0;
  unsigned int offset = ctx->__data_loc_filename & 0xFFFF;
  if (bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), (void*)ctx + offset) < 0)
    ev->filename[0] = 0;
  /* Always at once: the agent attaches TLS probes to a new program before its first request. */
  bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
  return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_process_exit(void* ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  const bool t = traced(pid_tgid);
  if (!t && !select_procs) return 0;
  /* The whole thread group's exit, not the leader's: a leader may pthread_exit() while other threads go on,
   * and the threads an execve ends (de_thread) are not the process ending. do_exit() counts the thread down
   * in signal->live before this tracepoint; the last thread out finds 0 (two exiting at once may both: the
   * agent takes an exit twice). */
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;
  if (select_procs) forget_verdict(pid_tgid >> 32);
  if (!t) return 0;
  struct l7tap_exit_event ev = {};
  fill_header(&ev.hdr, L7TAP_EV_PROCESS_EXIT, pid_tgid);
  ev.tgid = pid_tgid >> 32;
  forget_process_holds(ev.tgid);
  if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wakeup_flag())) count(L7TAP_CNT_RINGBUF_FULL, 1);
  return 0;
}

/* ---- entry points: each syscall gets a tracepoint pair (tp_*) and a ksyscall kprobe pair (ks_*) ---- */

// clang-format off
/* Exits are defined (so attached) before entries: a call whose entry is seen always has its exit. */
/* `addr_arg`: 4 when argument 4 is a sockaddr (sendto, recvfrom), else 0 (the kprobe entry then reads only
 * four arguments). */
#define PROBES(name, enter_call, kind, dir, flags_arg, addr_arg)                                            \
  SEC("tracepoint/syscalls/sys_exit_" #name)                                                                \
  int tp_exit_##name(struct trace_event_raw_sys_exit *ctx) {                                                \
    exit_call(ctx->ret, kind, dir, flags_arg, addr_arg);                                                    \
    return 0;                                                                                               \
  }                                                                                                         \
  SEC("tracepoint/syscalls/sys_enter_" #name)                                                               \
  int tp_enter_##name(struct trace_event_raw_sys_enter *ctx) {                                              \
    long a0 = ctx->args[0], a1 = ctx->args[1], a2 = ctx->args[2], a3 = ctx->args[3];                        \
    long a4 = addr_arg ? ctx->args[4] : 0;                                                                  \
    enter_call;                                                                                             \
    return 0;                                                                                               \
  }                                                                                                         \
  SEC("kretsyscall/" #name)                                                                                 \
  int BPF_KRETPROBE(ks_exit_##name, long ret) { exit_call(ret, kind, dir, flags_arg, addr_arg); return 0; } \
  KS_ENTER_##addr_arg(name, enter_call)
#define KS_ENTER_0(name, enter_call)                                                                        \
  SEC("ksyscall/" #name)                                                                                    \
  int BPF_KSYSCALL(ks_enter_##name, long a0, long a1, long a2, long a3) { long a4 = 0; enter_call; return 0; }
#define KS_ENTER_4(name, enter_call)                                                                        \
  SEC("ksyscall/" #name)                                                                                    \
  int BPF_KSYSCALL(ks_enter_##name, long a0, long a1, long a2, long a3, long a4) { enter_call; return 0; }

/* a0 = fd, a1 = buffer / iovec / msghdr / mmsghdr, a2 = count (iovec and mmsg kinds); `flags` is the
 * argument holding the MSG_* flags of receive calls (0 where there is none), `fi` its index. */
#define IO(name, kind, dir, flags, fi, ai) \
  PROBES(name, (void)a3; enter_io(a0, a1, a2, flags, kind, dir, a4), kind, dir, fi, ai)
#define CONN(name, kind) \
  PROBES(name, (void)a1; (void)a2; (void)a3; (void)a4; enter_conn(a0, kind), kind, 0, 0, 0)

IO(read, CALL_BUF, L7TAP_DIR_INGRESS, 0, 0, 0)
IO(write, CALL_BUF, L7TAP_DIR_EGRESS, 0, 0, 0)
IO(recvfrom, CALL_BUF, L7TAP_DIR_INGRESS, a3, 3, 4) /* a4 = src_addr, read at the exit */
IO(sendto, CALL_BUF, L7TAP_DIR_EGRESS, 0, 0, 4)     /* a4 = dest_addr */
IO(readv, CALL_IOV, L7TAP_DIR_INGRESS, 0, 0, 0)
IO(writev, CALL_IOV, L7TAP_DIR_EGRESS, 0, 0, 0)
IO(recvmsg, CALL_MSG, L7TAP_DIR_INGRESS, a2, 2, 0)
IO(sendmsg, CALL_MSG, L7TAP_DIR_EGRESS, 0, 0, 0)
IO(recvmmsg, CALL_MMSG, L7TAP_DIR_INGRESS, a3, 3, 0)
IO(sendmmsg, CALL_MMSG, L7TAP_DIR_EGRESS, 0, 0, 0)
IO(preadv2, CALL_IOV, L7TAP_DIR_INGRESS, 0, 0, 0) /* offset -1 on a socket: readv with flags */
IO(pwritev2, CALL_IOV, L7TAP_DIR_EGRESS, 0, 0, 0)
IO(sendfile64, CALL_SENDFILE, L7TAP_DIR_EGRESS, 0, 0, 0) /* a0 = out_fd (the socket) */
CONN(connect, CALL_CONNECT)
CONN(accept, CALL_ACCEPT)
CONN(accept4, CALL_ACCEPT)

/* close needs no exit: the connection ends at the call. */
SEC("tracepoint/syscalls/sys_enter_close")
int tp_enter_close(struct trace_event_raw_sys_enter *ctx) { on_close(ctx->args[0]); return 0; }
SEC("ksyscall/close")
int BPF_KSYSCALL(ks_enter_close, long fd) { on_close(fd); return 0; }

/* Executable file mappings (a library loaded, a dlopen): a0..a5 = addr, len, prot, flags, fd, offset. */
SEC("tracepoint/syscalls/sys_enter_mmap")
int tp_enter_mmap(struct trace_event_raw_sys_enter *ctx) { note_mmap(ctx->args[4], ctx->args[2]); return 0; }
SEC("ksyscall/mmap")
int BPF_KSYSCALL(ks_enter_mmap, long addr, long len, long prot, long flags, long fd) {
  (void)addr; (void)len; (void)flags;
  note_mmap(fd, prot);
  return 0;
}
// clang-format on
