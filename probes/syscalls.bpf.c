// SPDX-License-Identifier: GPL-2.0
/* Socket syscall capture. The logic lives in inline functions; two thin sets of entry points call it:
 * syscall tracepoints (tp_*) and ksyscall kprobes (ks_*). User space loads one set (autoload). */
// clang-format off
#include "vmlinux.h" /* first: the libbpf headers below need its types */
// clang-format on
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115

/* Set by user space before load. */
const volatile __u32 self_tgid = 0;
const volatile __u32 max_payload = L7TAP_DEFAULT_PAYLOAD;
const volatile bool filter_pids = false;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} events SEC(".maps");

struct conn_info {
  __u64 generation;
  __u64 position[2]; /* indexed by enum l7tap_direction */
};

/* Key: tgid << 32 | fd. LRU so connections of processes that vanish unseen cannot fill it. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct conn_info);
} conns SEC(".maps");

/* Connections user space gave up on (not HTTP, or upgraded to another protocol): key as in conns, value the
 * generation. Their bytes are no longer copied or sent, so they cost one lookup per call. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, __u64);
} muted SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u8);
} pid_filter SEC(".maps");

enum call_kind { CALL_BUF = 1, CALL_IOV, CALL_MSG, CALL_MMSG, CALL_CONNECT, CALL_ACCEPT, CALL_SENDFILE };

struct call_args {
  __u64 ptr;   /* buffer, iovec array, msghdr or mmsghdr array */
  __u64 count; /* iovcnt or vlen */
  __s32 fd;
  __u8 kind;
  __u8 direction;
};

/* Syscall arguments between enter and exit, by thread. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct call_args);
} calls SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, L7TAP_CNT__MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* Event under construction, one slot per CPU (a plain array: per-CPU values are limited to 32 KiB; user
 * space sizes it to the possible CPUs). The payload area is twice the cap so bounded offsets verify. */
struct scratch {
  struct l7tap_data_event ev;
  __u8 data[2 * L7TAP_MAX_PAYLOAD];
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, struct scratch);
} scratch_map SEC(".maps");

static __always_inline void count(__u32 which, __u64 n) {
  __u64* v = bpf_map_lookup_elem(&counters, &which);
  if (v) *v += n;
}

static __always_inline bool traced(__u64 pid_tgid) {
  __u32 tgid = pid_tgid >> 32;
  if (tgid == self_tgid) return false;
  if (filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid)) return false;
  return true;
}

static __always_inline __u64 conn_key(__u32 tgid, __s32 fd) { return ((__u64)tgid << 32) | (__u32)fd; }

static __always_inline void fill_header(struct l7tap_event_header* h, __u16 kind, __u64 pid_tgid) {
  h->kind = kind;
  h->version = L7TAP_CONTRACT_VERSION;
  h->pid = (__u32)pid_tgid;
  h->ts_ns = bpf_ktime_get_ns();
}

/* The socket behind fd of the current task, or NULL when fd is not a socket. */
static __always_inline struct sock* fd_to_sock(__s32 fd) {
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  struct fdtable* fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds)) return NULL;
  struct file** fds = BPF_CORE_READ(fdt, fd);
  struct file* f = NULL;
  if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f) return NULL;
  umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK) return NULL;
  struct socket* sock = BPF_CORE_READ(f, private_data);
  return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* Starts following (tgid, fd) if it is a TCP or UDP socket over IPv4/IPv6; a new generation replaces
 * whatever was recorded for that fd before. */
static __noinline struct conn_info* register_conn(__u64 pid_tgid, __s32 fd, __u8 role) {
  struct sock* sk = fd_to_sock(fd);
  if (!sk) return NULL;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return NULL;
  __u16 type = BPF_CORE_READ(sk, sk_type);
  __u16 proto = BPF_CORE_READ(sk, sk_protocol);
  __u8 l4;
  if (type == SOCK_STREAM && proto == IPPROTO_TCP)
    l4 = L7TAP_L4_TCP;
  else if (type == SOCK_DGRAM && proto == IPPROTO_UDP)
    l4 = L7TAP_L4_UDP;
  else
    return NULL;

  __u32 tgid = pid_tgid >> 32;
  __u64 key = conn_key(tgid, fd);
  struct conn_info info = {.generation = bpf_ktime_get_ns()};
  bpf_map_delete_elem(&muted, &key);
  if (bpf_map_update_elem(&conns, &key, &info, BPF_ANY)) {
    count(L7TAP_CNT_CONN_TABLE_FULL, 1);
    return NULL;
  }

  struct l7tap_conn_event ev = {};
  fill_header(&ev.hdr, L7TAP_EV_CONN_OPEN, pid_tgid);
  ev.conn.tgid = tgid;
  ev.conn.fd = fd;
  ev.conn.generation = info.generation;
  ev.family = family;
  ev.l4 = l4;
  ev.role = role;
  ev.local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  ev.remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (family == AF_INET) {
    BPF_CORE_READ_INTO(&ev.local_addr, sk, __sk_common.skc_rcv_saddr);
    BPF_CORE_READ_INTO(&ev.remote_addr, sk, __sk_common.skc_daddr);
  } else {
    BPF_CORE_READ_INTO(&ev.local_addr, sk, __sk_common.skc_v6_rcv_saddr);
    BPF_CORE_READ_INTO(&ev.remote_addr, sk, __sk_common.skc_v6_daddr);
  }
  bpf_get_current_comm(&ev.comm, sizeof(ev.comm));
  if (bpf_ringbuf_output(&events, &ev, sizeof(ev), 0)) count(L7TAP_CNT_RINGBUF_FULL, 1);
  return bpf_map_lookup_elem(&conns, &key);
}

static __always_inline struct conn_info* find_conn(__u64 pid_tgid, __s32 fd) {
  __u64 key = conn_key(pid_tgid >> 32, fd);
  struct conn_info* info = bpf_map_lookup_elem(&conns, &key);
  return info ? info : register_conn(pid_tgid, fd, L7TAP_ROLE_UNKNOWN);
}

/* ---- enter: remember the arguments of calls on followed sockets ---- */

static __always_inline void enter_io(__s32 fd, __u64 ptr, __u64 cnt, __u8 kind, __u8 dir) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid) || !find_conn(pid_tgid, fd)) return;
  struct call_args args = {.ptr = ptr, .count = cnt, .fd = fd, .kind = kind, .direction = dir};
  bpf_map_update_elem(&calls, &pid_tgid, &args, BPF_ANY);
}

static __always_inline void enter_conn(__s32 fd, __u8 kind) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  struct call_args args = {.fd = fd, .kind = kind};
  bpf_map_update_elem(&calls, &pid_tgid, &args, BPF_ANY);
}

/* ---- exit: emit what moved ---- */

/* Copies up to n user bytes at payload offset off, within the cap. Returns bytes copied, or -1 when the
 * read faulted (the caller stops: copied bytes must stay a prefix of the stream). */
static __always_inline long copy_user(struct scratch* s, __u32 off, const void* src, __u64 n) {
  __u32 cap = max_payload;
  if (cap > L7TAP_MAX_PAYLOAD) cap = L7TAP_MAX_PAYLOAD;
  if (off >= cap) return 0;
  __u64 room = cap - off;
  if (n > room) n = room;
  if (n > L7TAP_MAX_PAYLOAD) n = L7TAP_MAX_PAYLOAD;
  off &= L7TAP_MAX_PAYLOAD - 1;
  if (n == 0) return 0;
  if (bpf_probe_read_user(&s->data[off], n, src)) {
    count(L7TAP_CNT_COPY_FAILED, 1);
    return -1;
  }
  return n;
}

static __always_inline struct scratch* begin_data(__u64 pid_tgid, __s32 fd, struct conn_info* ci) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct scratch* s = bpf_map_lookup_elem(&scratch_map, &cpu);
  if (!s) return NULL;
  fill_header(&s->ev.hdr, L7TAP_EV_DATA, pid_tgid);
  s->ev.conn.tgid = pid_tgid >> 32;
  s->ev.conn.fd = fd;
  s->ev.conn.generation = ci->generation;
  s->ev.copied = 0;
  return s;
}

static __always_inline void finish_data(struct scratch* s, struct conn_info* ci, __u8 dir, __u64 length,
                                        bool over_cap_counts) {
  s->ev.direction = dir;
  s->ev.length = length;
  s->ev.position = __sync_fetch_and_add(&ci->position[dir & 1], length);
  if (over_cap_counts && s->ev.copied < length) {
    count(L7TAP_CNT_TRUNCATED_EVENTS, 1);
    count(L7TAP_CNT_TRUNCATED_BYTES, length - s->ev.copied);
  }
  __u64 size = sizeof(s->ev) + (s->ev.copied & (2 * L7TAP_MAX_PAYLOAD - 1));
  if (bpf_ringbuf_output(&events, s, size, 0)) count(L7TAP_CNT_RINGBUF_FULL, 1);
}

/* Copies `total` bytes spread over an iovec array, in order, up to the cap. */
static __noinline void copy_iov(struct scratch* s, const struct iovec* iov, __u64 iovcnt, __u64 total) {
  __u32 off = 0;
  __u64 left = total;
#pragma clang loop unroll(disable)
  for (int i = 0; i < L7TAP_MAX_IOV; i++) {
    if (i >= iovcnt || left == 0 || off >= max_payload) break;
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

static __noinline void emit_msg(struct conn_info* ci, const struct call_args* args,
                                const struct user_msghdr* msg, __u64 length) {
  struct scratch* s = begin_data(bpf_get_current_pid_tgid(), args->fd, ci);
  if (!s) return;
  struct iovec* iov = NULL;
  __u64 iovlen = 0;
  bpf_probe_read_user(&iov, sizeof(iov), &msg->msg_iov);
  bpf_probe_read_user(&iovlen, sizeof(iovlen), &msg->msg_iovlen);
  if (iovlen > L7TAP_MAX_IOV) count(L7TAP_CNT_IOV_LIMIT, 1);
  copy_iov(s, iov, iovlen, length);
  finish_data(s, ci, args->direction, length, true);
}

/* `kind` is a constant at every call site, so each exit program keeps only its own branch: the verifier
 * then walks the iovec and mmsg loops only in the programs that need them (load time drops severalfold). */
static __always_inline void exit_call(long ret, const __u8 kind) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct call_args* a = bpf_map_lookup_elem(&calls, &pid_tgid);
  if (!a) return;
  struct call_args args = *a;
  bpf_map_delete_elem(&calls, &pid_tgid);
  if (args.kind != kind) return;

  if (kind == CALL_CONNECT) {
    if (ret == 0 || ret == -EINPROGRESS) register_conn(pid_tgid, args.fd, L7TAP_ROLE_CLIENT);
    return;
  }
  if (kind == CALL_ACCEPT) {
    if (ret >= 0) register_conn(pid_tgid, (__s32)ret, L7TAP_ROLE_SERVER);
    return;
  }
  if (ret <= 0) return;
  __u64 key = conn_key(pid_tgid >> 32, args.fd);
  struct conn_info* ci = bpf_map_lookup_elem(&conns, &key);
  if (!ci) return;
  __u64* muted_generation = bpf_map_lookup_elem(&muted, &key);
  if (muted_generation && *muted_generation == ci->generation) return;

  if (kind == CALL_BUF) {
    struct scratch* s = begin_data(pid_tgid, args.fd, ci);
    if (!s) return;
    long got = copy_user(s, 0, (const void*)args.ptr, ret);
    s->ev.copied = got > 0 ? got : 0;
    finish_data(s, ci, args.direction, ret, true);
  } else if (kind == CALL_IOV) {
    struct scratch* s = begin_data(pid_tgid, args.fd, ci);
    if (!s) return;
    if (args.count > L7TAP_MAX_IOV) count(L7TAP_CNT_IOV_LIMIT, 1);
    copy_iov(s, (const struct iovec*)args.ptr, args.count, ret);
    finish_data(s, ci, args.direction, ret, true);
  } else if (kind == CALL_SENDFILE) {
    /* File bytes the process never sees: counted by length so body framing holds, never copied. */
    struct scratch* s = begin_data(pid_tgid, args.fd, ci);
    if (!s) return;
    finish_data(s, ci, L7TAP_DIR_EGRESS, ret, false);
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

static __always_inline void on_close(__s32 fd) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  __u64 key = conn_key(pid_tgid >> 32, fd);
  struct conn_info* ci = bpf_map_lookup_elem(&conns, &key);
  if (!ci) return;
  struct l7tap_close_event ev = {};
  fill_header(&ev.hdr, L7TAP_EV_CONN_CLOSE, pid_tgid);
  ev.conn.tgid = pid_tgid >> 32;
  ev.conn.fd = fd;
  ev.conn.generation = ci->generation;
  bpf_map_delete_elem(&conns, &key);
  bpf_map_delete_elem(&muted, &key);
  if (bpf_ringbuf_output(&events, &ev, sizeof(ev), 0)) count(L7TAP_CNT_RINGBUF_FULL, 1);
}

SEC("tracepoint/sched/sched_process_exit")
int on_process_exit(void* ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if ((__u32)pid_tgid != (__u32)(pid_tgid >> 32) || !traced(pid_tgid)) return 0; /* group leader only */
  struct l7tap_exit_event ev = {};
  fill_header(&ev.hdr, L7TAP_EV_PROCESS_EXIT, pid_tgid);
  ev.tgid = pid_tgid >> 32;
  if (bpf_ringbuf_output(&events, &ev, sizeof(ev), 0)) count(L7TAP_CNT_RINGBUF_FULL, 1);
  return 0;
}

/* ---- entry points: each syscall gets a tracepoint pair (tp_*) and a ksyscall kprobe pair (ks_*) ---- */

// clang-format off
#define PROBES(name, enter_call, kind)                                                                      \
  SEC("tracepoint/syscalls/sys_enter_" #name)                                                               \
  int tp_enter_##name(struct trace_event_raw_sys_enter *ctx) {                                              \
    long a0 = ctx->args[0], a1 = ctx->args[1], a2 = ctx->args[2];                                           \
    enter_call;                                                                                             \
    return 0;                                                                                               \
  }                                                                                                         \
  SEC("tracepoint/syscalls/sys_exit_" #name)                                                                \
  int tp_exit_##name(struct trace_event_raw_sys_exit *ctx) { exit_call(ctx->ret, kind); return 0; }         \
  SEC("ksyscall/" #name)                                                                                    \
  int BPF_KSYSCALL(ks_enter_##name, long a0, long a1, long a2) { enter_call; return 0; }                    \
  SEC("kretsyscall/" #name)                                                                                 \
  int BPF_KRETPROBE(ks_exit_##name, long ret) { exit_call(ret, kind); return 0; }

/* a0 = fd, a1 = buffer / iovec / msghdr / mmsghdr, a2 = count (used by the iovec and mmsg kinds) */
#define IO(name, kind, dir) PROBES(name, enter_io(a0, a1, a2, kind, dir), kind)
#define CONN(name, kind) PROBES(name, (void)a1; (void)a2; enter_conn(a0, kind), kind)

IO(read, CALL_BUF, L7TAP_DIR_INGRESS)
IO(write, CALL_BUF, L7TAP_DIR_EGRESS)
IO(recvfrom, CALL_BUF, L7TAP_DIR_INGRESS)
IO(sendto, CALL_BUF, L7TAP_DIR_EGRESS)
IO(readv, CALL_IOV, L7TAP_DIR_INGRESS)
IO(writev, CALL_IOV, L7TAP_DIR_EGRESS)
IO(recvmsg, CALL_MSG, L7TAP_DIR_INGRESS)
IO(sendmsg, CALL_MSG, L7TAP_DIR_EGRESS)
IO(recvmmsg, CALL_MMSG, L7TAP_DIR_INGRESS)
IO(sendmmsg, CALL_MMSG, L7TAP_DIR_EGRESS)
IO(sendfile64, CALL_SENDFILE, L7TAP_DIR_EGRESS) /* a0 = out_fd (the socket) */
CONN(connect, CALL_CONNECT)
CONN(accept, CALL_ACCEPT)
CONN(accept4, CALL_ACCEPT)

/* close needs no exit: the connection ends at the call. */
SEC("tracepoint/syscalls/sys_enter_close")
int tp_enter_close(struct trace_event_raw_sys_enter *ctx) { on_close(ctx->args[0]); return 0; }
SEC("ksyscall/close")
int BPF_KSYSCALL(ks_enter_close, long fd) { on_close(fd); return 0; }
// clang-format on
