/* Shared state of the capture programs: configuration, maps, connection records, event building. */
#pragma once

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
/* Set by the agent when the kernel has bpf_loop (5.17+): iovec copies then walk up to L7TAP_MAX_IOV segments. */
const volatile bool have_bpf_loop = false;

/* Keys mode (--tls-capture keys|auto): TLS connections' ciphertext is sent (L7TAP_CONN_TLS_REC) for the agent
 * to decrypt; else it is dropped and only TLS library plaintext probes serve them. */
const volatile bool tls_keys = false;
/* Keys mode: bytes copied of each application-data record past a call's first event (whole records by default:
 * HTTP/2 frame headers can lie anywhere in a record; --tls-record-bytes lowers it). Handshake records are copied
 * whole. At least the 5-byte header. */
const volatile __u32 tls_record_copy = L7TAP_MAX_PAYLOAD;

static __always_inline __u32 iov_limit(void) { return have_bpf_loop ? L7TAP_MAX_IOV : L7TAP_MIN_IOV; }
/* Process selection (--pid, --pid-tree, --exe, --container-id, --cgroup and the --exclude-* flags):
 * select_procs: a verdict is needed at all; select_only: some process selector was given, so a process none
 * selects is not traced. The cgroups are checked per event (a process may move); ids are cgroup v2 inode
 * numbers, each with its level (depth below the root). */
const volatile bool select_procs = false;
const volatile bool select_only = false;
/* --exe, --container-id or their exclusions: user space decides at each exec, so every exec is reported. */
const volatile bool select_at_exec = false;
const volatile __u32 sel_cgroups = 0;
const volatile __u32 excl_cgroups = 0;
const volatile __u64 sel_cgroup_id[L7TAP_MAX_CGROUPS] = {};
const volatile __u32 sel_cgroup_level[L7TAP_MAX_CGROUPS] = {};
const volatile __u64 excl_cgroup_id[L7TAP_MAX_CGROUPS] = {};
const volatile __u32 excl_cgroup_level[L7TAP_MAX_CGROUPS] = {};
/* Connection selection by port (--port, --exclude-port), judged once when a socket is first seen. */
const volatile bool select_ports = false;  /* some --port: a connection on none is skipped */
const volatile bool exclude_ports = false; /* some --exclude-port */
/* Syscall tracepoints: a call that began before the probes were attached is recovered at its exit (kretprobes
 * only fire for calls entered after attaching, so the kprobe backend cannot). */
const volatile bool recover_at_exit = false;
/* Wake the agent only once this many bytes wait (0: on every event). A wake-up from a probe costs the traced
 * thread an inter-processor interrupt (~2 us here, most of a TLS probe's cost); the agent also drains the
 * ring on a short timer, so batching only delays events, never strands them. */
const volatile __u64 wakeup_bytes = 0;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} events SEC(".maps");

static __always_inline __u64 wakeup_flag(void) {
  if (!wakeup_bytes) return 0;
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
                                                                       : BPF_RB_NO_WAKEUP;
}

/* DNS ports (--dns-ports, default 53), host byte order. UDP on other ports is never copied. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_MAX_DNS_PORTS);
  __type(key, __u16);
  __type(value, __u8);
} dns_ports SEC(".maps");

/* Followed sockets, key l7tap_conn_key. A plain hash map (user space sets its size): when full, a new
 * connection is refused and counted, never an old one evicted to come back mid-stream as new. Entries go at
 * close; the agent's sweeper removes those of vanished processes and idle ones. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_DEFAULT_MAX_CONNS);
  __type(key, __u64);
  __type(value, struct l7tap_conn_info);
} conns SEC(".maps");

/* Connections user space gave up on for one source of bytes: those bytes are no longer copied or sent, so
 * they cost one lookup per call. Written by user space only; same key and size as conns. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_DEFAULT_MAX_CONNS);
  __type(key, __u64);
  __type(value, struct l7tap_mute);
} muted SEC(".maps");

static __always_inline bool is_muted(__u64 key, const struct l7tap_conn_info* ci, __u32 source) {
  struct l7tap_mute* m = bpf_map_lookup_elem(&muted, &key);
  return m && m->generation == ci->generation && m->source == source;
}

/* Selection verdicts by tgid (L7TAP_SEL_*): written by user space (--pid, the start-up scan, execs) and by the
 * fork tracepoint (children inherit); an entry goes at its process's exit. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_MAX_VERDICTS);
  __type(key, __u32);
  __type(value, __u8);
} proc_verdicts SEC(".maps");

/* --port / --exclude-port values (host byte order) -> L7TAP_PORT_*. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_MAX_PORTS);
  __type(key, __u16);
  __type(value, __u8);
} sel_ports SEC(".maps");

enum call_kind { CALL_BUF = 1, CALL_IOV, CALL_MSG, CALL_MMSG, CALL_CONNECT, CALL_ACCEPT, CALL_SENDFILE, CALL_SPLICE };

struct call_args {
  __u64 ptr;   /* buffer, iovec array, msghdr or mmsghdr array */
  __u64 count; /* iovcnt or vlen */
  __u64 addr;  /* sendto's dest_addr, recvfrom's src_addr (0: none, or not a call with one) */
  __s32 fd;
  __u8 kind;
  __u8 direction;
};

/* A TLS library call in progress on a thread (entry seen, return not yet). The socket syscall it makes
 * names its fd: nested-syscall correlation, no library struct offsets needed. */
enum tls_call_kind { TLS_DATA = 1, TLS_HANDSHAKE = 2 };

struct tls_call {
  __u64 ssl;
  __u64 buf;
  __u64 len_ptr; /* _ex variants: where the byte count is stored; 0 otherwise */
  __s32 fd;      /* -1 until a nested syscall names it */
  __u8 kind;     /* enum tls_call_kind */
  __u8 direction;
  __u8 mismatch_counted;
  __u8 pad;
};

/* Which fd a TLS session object uses, for calls that make no syscall (buffered reads). The sweeper removes
 * sessions whose connection is gone. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_MAX_SSL_SESSIONS);
  __type(key, struct l7tap_ssl_key);
  __type(value, struct l7tap_ssl_conn);
} ssl_fds SEC(".maps");

/* What a thread is in the middle of: a socket syscall (entry seen, exit not yet) and a TLS library call. Kept
 * in task-local storage, which goes with the thread: a lookup is a pointer walk, where a hash map keyed by
 * thread cost an update and a delete per call (~250 ns here, on every SSL call and followed syscall). */
struct thread_state {
  struct call_args call; /* kind 0: no followed syscall in progress */
  struct tls_call tls;   /* kind 0: no TLS call in progress */
};

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct thread_state);
} threads SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, L7TAP_CNT__MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* Event under construction, one slot per CPU (a plain array: per-CPU values are limited to 32 KiB; user
 * space sizes it to the possible CPUs). The payload area is twice the cap so bounded offsets verify. */
#define H2_SEGS 512 /* power of two; gRPC's C core writes up to 260 segments per call */

struct scratch {
  struct l7tap_data_event ev;
  __u8 data[2 * L7TAP_MAX_PAYLOAD];
  __u32 cap;      /* bytes this event may copy (max_payload, or more for HTTP/2) */
  __u64 user_buf;    /* the call's buffer when it is one contiguous buffer (0: iovecs): HTTP/2 frame walks */
  __u64 call_length; /* the call's bytes (an event may carry fewer: HTTP/2 frame walks) */
  /* An iovec call's first H2_SEGS segments (call offset, user address), for HTTP/2 frame walks. */
  __u64 seg_start[H2_SEGS];
  __u64 seg_base[H2_SEGS];
  __u32 nsegs;
  __u32 seg_hint; /* where h2_locate's last answer was: a walk goes forward */
  struct l7tap_peer peer; /* a datagram's address argument, appended to the event when has_peer */
  bool has_peer;
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

/* This thread's state; created on first use when `create`. NULL if it cannot be had (no memory, or the
 * storage is busy on this CPU): the caller counts what that loses. */
static __always_inline struct thread_state* current_thread(bool create) {
  return bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0,
                              create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* Whether the current task is in one of n cgroups (or below): one ancestor-id lookup per cgroup. The helper
 * (5.7+) is only reached when a cgroup was given (rodata: dead code otherwise). */
static __always_inline bool in_cgroups(const volatile __u64* ids, const volatile __u32* levels, __u32 n) {
  for (int i = 0; i < L7TAP_MAX_CGROUPS; i++) {
    if (i >= n) break;
    if (bpf_get_current_ancestor_cgroup_id(levels[i]) == ids[i]) return true;
  }
  return false;
}

static __noinline bool process_selected(__u32 tgid) {
  __u8* v = bpf_map_lookup_elem(&proc_verdicts, &tgid);
  const __u8 bits = v ? *v : 0;
  if (bits & L7TAP_SEL_SKIP) return false;
  if (excl_cgroups && in_cgroups(excl_cgroup_id, excl_cgroup_level, excl_cgroups)) return false;
  if (!select_only || (bits & L7TAP_SEL_TRACE)) return true;
  return sel_cgroups && in_cgroups(sel_cgroup_id, sel_cgroup_level, sel_cgroups);
}

static __always_inline bool traced(__u64 pid_tgid) {
  __u32 tgid = pid_tgid >> 32;
  if (tgid == self_tgid) return false;
  return !select_procs || process_selected(tgid);
}

/* A socket first seen: whether its ports leave it unfollowed (--port, --exclude-port). PORTS_PER_DATAGRAM: an
 * unconnected UDP socket whose own port does not decide; each datagram is judged by its peer's. */
enum { PORTS_FOLLOW = 0, PORTS_SKIP = 1, PORTS_PER_DATAGRAM = 2 };

static __always_inline int ports_verdict(__u16 local, __u16 remote, bool udp) {
  if (!select_ports && !exclude_ports) return PORTS_FOLLOW;
  __u8* a = bpf_map_lookup_elem(&sel_ports, &local);
  __u8* b = remote ? bpf_map_lookup_elem(&sel_ports, &remote) : NULL;
  const __u8 bits = (a ? *a : 0) | (b ? *b : 0);
  if (bits & L7TAP_PORT_EXCLUDED) return PORTS_SKIP;
  if (udp && !remote && !(bits & L7TAP_PORT_SELECTED)) return PORTS_PER_DATAGRAM;
  return !select_ports || (bits & L7TAP_PORT_SELECTED) ? PORTS_FOLLOW : PORTS_SKIP;
}

/* A datagram of a PORTS_PER_DATAGRAM socket (L7TAP_CONN_PORT_PEER): whether its peer port leaves it out. */
static __always_inline bool datagram_port_skip(__u16 peer) {
  __u8* b = bpf_map_lookup_elem(&sel_ports, &peer);
  const __u8 bits = b ? *b : 0;
  return (bits & L7TAP_PORT_EXCLUDED) || (select_ports && !(bits & L7TAP_PORT_SELECTED));
}

/* Every uprobe program counts its hit in a traced process by what the kernel did to run the probed
 * instruction (as placement classified it: the attach cookie carries the single-step bit). */
static __always_inline void count_hit(struct pt_regs* ctx) {
  if (!traced(bpf_get_current_pid_tgid())) return;
  count(bpf_get_attach_cookie(ctx) & L7TAP_COOKIE_SINGLE_STEP ? L7TAP_CNT_HITS_SINGLE_STEP
                                                              : L7TAP_CNT_HITS_EMULATED,
        1);
}

static __always_inline void count_return_hit(void) {
  if (traced(bpf_get_current_pid_tgid())) count(L7TAP_CNT_HITS_URETPROBE, 1);
}

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
static __noinline struct l7tap_conn_info* register_conn(__u64 pid_tgid, __s32 fd, __u8 role) {
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
  __u64 key = l7tap_conn_key(tgid, fd);
  struct l7tap_conn_info info = {.generation = bpf_ktime_get_ns()};
  info.last_ns = info.generation;
  __u16 local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  __u16 remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (l4 == L7TAP_L4_UDP) info.flags |= L7TAP_CONN_UDP;
  if (bpf_map_lookup_elem(&dns_ports, &local_port) ||
      (remote_port && bpf_map_lookup_elem(&dns_ports, &remote_port)))
    info.flags |= L7TAP_CONN_DNS;
  bpf_map_delete_elem(&muted, &key);
  const int ports = ports_verdict(local_port, remote_port, l4 == L7TAP_L4_UDP);
  if (ports == PORTS_PER_DATAGRAM) info.flags |= L7TAP_CONN_PORT_PEER;
  if (ports == PORTS_SKIP) {
    info.flags = L7TAP_CONN_SKIPPED;
    if (bpf_map_update_elem(&conns, &key, &info, BPF_ANY)) count(L7TAP_CNT_CONN_TABLE_FULL, 1);
    count(L7TAP_CNT_CONNS_SKIPPED, 1);
    return NULL;
  }
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
  ev.local_port = local_port;
  ev.remote_port = remote_port;
  if (family == AF_INET) {
    BPF_CORE_READ_INTO(&ev.local_addr, sk, __sk_common.skc_rcv_saddr);
    BPF_CORE_READ_INTO(&ev.remote_addr, sk, __sk_common.skc_daddr);
  } else {
    BPF_CORE_READ_INTO(&ev.local_addr, sk, __sk_common.skc_v6_rcv_saddr);
    BPF_CORE_READ_INTO(&ev.remote_addr, sk, __sk_common.skc_v6_daddr);
  }
  /* The process's name, not the calling thread's (threads are often named: "isc-net-0000", "worker-3"). */
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  BPF_CORE_READ_STR_INTO(&ev.comm, task, group_leader, comm);
  if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wakeup_flag())) count(L7TAP_CNT_RINGBUF_FULL, 1);
  return bpf_map_lookup_elem(&conns, &key);
}

static __always_inline bool is_dns_port(__u16 port) { return port && bpf_map_lookup_elem(&dns_ports, &port); }

/* The address a datagram call names (sendto's dest_addr, recvfrom's src_addr, a msghdr's msg_name) as a peer;
 * `len` is its length when known (msg_namelen; 0: not known, a successful call had a valid one). False when
 * there is none (the socket's connected peer is the datagram's) or it cannot be read (counted). */
static __always_inline bool read_peer(__u64 addr, __u32 len, struct l7tap_peer* p) {
  if (!addr) return false;
  struct {
    __u16 family;
    __u16 port; /* network byte order */
    __u8 v4[4]; /* sockaddr_in's address; sockaddr_in6's flow info */
  } h;
  if (bpf_probe_read_user(&h, sizeof(h), (const void*)addr)) {
    count(L7TAP_CNT_PEER_UNREADABLE, 1);
    return false;
  }
  if (h.family == AF_INET && (!len || len >= sizeof(h))) {
    __builtin_memset(p->addr, 0, sizeof(p->addr));
    __builtin_memcpy(p->addr, h.v4, 4);
  } else if (h.family == AF_INET6 && (!len || len >= 24)) {
    if (bpf_probe_read_user(p->addr, sizeof(p->addr), (const void*)(addr + 8))) {
      count(L7TAP_CNT_PEER_UNREADABLE, 1);
      return false;
    }
  } else {
    return false;
  }
  p->family = h.family;
  p->port = bpf_ntohs(h.port);
  p->pad = 0;
  return true;
}

/* Whether a connection's syscall bytes are sent: not ciphertext, and UDP only on DNS ports. */
static __always_inline bool syscall_bytes_followed(const struct l7tap_conn_info* ci) {
  return (!(ci->flags & L7TAP_CONN_TLS) || (ci->flags & L7TAP_CONN_TLS_REC)) &&
         (ci->flags & (L7TAP_CONN_UDP | L7TAP_CONN_DNS)) != L7TAP_CONN_UDP;
}

/* The followed connection of fd (registered now if first seen); NULL also for one left out by port. */
static __always_inline struct l7tap_conn_info* find_conn(__u64 pid_tgid, __s32 fd) {
  __u64 key = l7tap_conn_key(pid_tgid >> 32, fd);
  struct l7tap_conn_info* info = bpf_map_lookup_elem(&conns, &key);
  if (!info) return register_conn(pid_tgid, fd, L7TAP_ROLE_UNKNOWN);
  return info->flags & L7TAP_CONN_SKIPPED ? NULL : info;
}

/* Whether fd's connection was left out by port (a TLS call on it is then no lost plaintext). */
static __always_inline bool conn_skipped(__u32 tgid, __s32 fd) {
  __u64 key = l7tap_conn_key(tgid, fd);
  struct l7tap_conn_info* info = bpf_map_lookup_elem(&conns, &key);
  return info && (info->flags & L7TAP_CONN_SKIPPED);
}

/* ---- exit: emit what moved ---- */

/* Copies up to n user bytes at payload offset off, within the cap. Returns bytes copied, or -1 when the
 * read faulted (the caller stops: copied bytes must stay a prefix of the stream). */
static __always_inline long copy_user(struct scratch* s, __u32 off, const void* src, __u64 n) {
  __u32 cap = s->cap;
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

static __always_inline struct scratch* begin_data(__u64 pid_tgid, __s32 fd, struct l7tap_conn_info* ci,
                                                  __u8 source) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct scratch* s = bpf_map_lookup_elem(&scratch_map, &cpu);
  if (!s) return NULL;
  fill_header(&s->ev.hdr, L7TAP_EV_DATA, pid_tgid);
  s->ev.conn.tgid = pid_tgid >> 32;
  s->ev.conn.fd = fd;
  s->ev.conn.generation = ci->generation;
  s->ev.copied = 0;
  s->ev.source = source;
  s->cap = ci->flags & (L7TAP_CONN_H2 | L7TAP_CONN_TLS_REC) ? L7TAP_MAX_PAYLOAD : max_payload;
  s->user_buf = 0;
  s->nsegs = 0;
  s->seg_hint = 0;
  s->has_peer = false;
  s->ev.peer = 0;
  return s;
}

/* A TLS record header (handshake, alert, change-cipher-spec or application data; version 3.x) where a stream
 * starts: no HTTP/1 message starts with these bytes. */
static __always_inline bool starts_tls_record(const struct scratch* s) {
  if (s->ev.copied < 3) return false;
  __u8 type = s->data[0], major = s->data[1], minor = s->data[2];
  return type >= 20 && type <= 23 && major == 3 && minor <= 4;
}

/* A DNS message header: 12 bytes, one to four questions (resolvers send one), opcode QUERY..UPDATE. */
static __always_inline bool dns_header_ok(const struct scratch* s) {
  if (s->ev.copied < 12) return false;
  __u16 qdcount = ((__u16)s->data[4] << 8) | s->data[5];
  __u8 opcode = (s->data[2] >> 3) & 0xf;
  return qdcount >= 1 && qdcount <= 4 && opcode <= 5;
}

/* What a dropped event's bytes began, for loss accounting: an HTTP/1 request line (a method token of 3 to 20
 * characters and a space; not the h2c preface's PRI) or final-status line ("HTTP/1.x " and a status from 200:
 * a 1xx answers nothing yet), or a DNS datagram. Messages that begin inside a chunk (pipelined requests) are
 * not seen. */
#define MAX_METHOD 20
static __always_inline __u32 lost_start_counter(const struct scratch* s, bool datagram) {
  if (datagram) return L7TAP_CNT_LOST_DNS_MESSAGES;
  __u32 n = s->ev.copied;
  if (n >= 10 && s->data[0] == 'H' && s->data[1] == 'T' && s->data[2] == 'T' && s->data[3] == 'P' &&
      s->data[4] == '/' && s->data[5] == '1' && s->data[6] == '.')
    return s->data[8] == ' ' && s->data[9] >= '2' && s->data[9] <= '9' ? L7TAP_CNT_LOST_RESPONSE_STARTS : 0;
  if (n >= 4 && s->data[0] == 'P' && s->data[1] == 'R' && s->data[2] == 'I' && s->data[3] == ' ') return 0;
  for (int i = 0; i <= MAX_METHOD; i++) {
    if (i >= n) return 0;
    __u8 c = s->data[i];
    if (c == ' ') return i >= 3 ? L7TAP_CNT_LOST_REQUEST_STARTS : 0;
    if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_')) return 0;
  }
  return 0;
}

/* ---- HTTP/2 frame walk ----
 * A connection whose stream begins with the client preface or a SETTINGS frame is HTTP/2. Per direction the
 * kernel then knows where the next frame header is (h2_next); a call whose bytes hold frame headers past the
 * copy cap is sent as its copied part plus one event per frame from the first header out of reach: the frame
 * header, with the payload unless it is DATA (bodies are never read). The agent's parser then keeps the frame
 * boundaries from positions and lengths however large a read or write is. Needs bpf_loop (5.17+); a walk that
 * loses its place (concurrent writers, an iovec call, more frames than one walk takes) stops, counted, and the
 * parser resynchronises as without it. */
#define H2_FRAMES_PER_CALL 256
#define H2_HEADER 9
#define TLS_HEADER 5
#define TLS_APPLICATION_DATA 23

/* The user address of the call's byte at offset `off`, and how many bytes follow it contiguously there (0: out
 * of reach). A global function: the verifier checks its segment loop once, not at every call. */
__noinline __u64 h2_locate(struct scratch* s, __u64 off, __u64* avail) {
  if (!s || !avail) return 0;
  *avail = 0;
  if (off >= s->call_length) return 0;
  if (s->user_buf) {
    *avail = s->call_length - off;
    return s->user_buf + off;
  }
  __u32 j = s->seg_hint, hint = j;
  barrier_var(hint);
  if (j >= s->nsegs || off < s->seg_start[hint & (H2_SEGS - 1)]) j = 0;
  for (int k = 0; k < H2_SEGS; k++, j++) {
    if (j >= s->nsegs || j >= H2_SEGS) break;
    /* Masked where the verifier sees it (the compiler would drop a mask it can prove redundant). */
    __u32 at = j, next = j + 1;
    barrier_var(at);
    barrier_var(next);
    at &= H2_SEGS - 1;
    next &= H2_SEGS - 1;
    const __u64 start = s->seg_start[at];
    const __u64 end = j + 1 < s->nsegs && j + 1 < H2_SEGS ? s->seg_start[next] : s->call_length;
    if (off >= start && off < end) {
      s->seg_hint = j;
      *avail = end - off;
      return s->seg_base[at] + (off - start);
    }
  }
  return 0;
}

/* The size (header included) and type of the frame whose header starts at offset `off` of the call's bytes,
 * read from the process (also where the copy holds it: an offset used to index the copy would make the verifier
 * track it precisely, and the walk's loop would then never converge). A header cut by the call's end needs its
 * 3 length bytes here (the rest follows in the next call); type is 0xff when the type byte is not. */
static __always_inline bool h2_frame_at(struct scratch* s, __u64 off, bool tls, __u64* size, __u8* type) {
  __u8 h[5] = {};
  __u32 have = 0;
  __u64 avail = 0;
  __u64 at = h2_locate(s, off, &avail);
  if (avail >= 5) {
    if (bpf_probe_read_user(h, 5, (const void*)at)) return false;
    have = 5;
  } else {
    /* The header crosses segments (gRPC's C core splits them) or the call's end: byte by byte. */
#pragma unroll
    for (int i = 0; i < 5; i++) {
      at = h2_locate(s, off + i, &avail);
      if (!at || bpf_probe_read_user(&h[i], 1, (const void*)at)) break;
      have = i + 1;
    }
  }
  if (tls) {
    /* A TLS record header: type, version, 2 length bytes; all 5 are needed for its size. */
    if (have < 5) return false;
    *size = TLS_HEADER + (((__u64)h[3] << 8) | h[4]);
    *type = h[0];
    return true;
  }
  if (have < 3) return false;
  *size = H2_HEADER + (((__u64)h[0] << 16) | ((__u64)h[1] << 8) | h[2]);
  *type = have >= 4 ? h[3] : 0xff;
  return true;
}

/* At a stream's start: "PRI " (the client preface; no HTTP/1 method is PRI) or a SETTINGS frame header on
 * stream 0 (what a server writes first). */
static __always_inline void h2_start(struct scratch* s, struct l7tap_conn_info* ci, __u8 dir) {
  if (s->ev.position != 0 || s->ev.copied < H2_HEADER) return;
  const __u8* d = s->data;
  if (d[0] == 'P' && d[1] == 'R' && d[2] == 'I' && d[3] == ' ') {
    ci->flags |= L7TAP_CONN_H2;
    ci->h2_next[dir & 1] = have_bpf_loop ? 24 + 1 : 0;
  } else if (d[0] == 0 && d[2] % 6 == 0 && d[3] == 4 && d[4] == 0 && d[5] == 0 && d[6] == 0 && d[7] == 0 &&
             d[8] == 0) {
    ci->flags |= L7TAP_CONN_H2;
    ci->h2_next[dir & 1] = have_bpf_loop ? 0 + 1 : 0;
  }
}

struct h2_walk {
  struct scratch* s;
  struct l7tap_conn_info* ci;
  __u64 start;  /* stream position of the call's first byte */
  __u64 off;    /* offset in the call's bytes of the next frame header */
  __u64 cut;    /* first header out of the copy's reach (0: none yet) */
  __u64 total;  /* the call's bytes */
  __u8 dir;
  bool lost;
  bool tls; /* TLS records (L7TAP_CONN_TLS_REC), not HTTP/2 frames */
};

/* bpf_loop callback: one frame header inside the call; stops at the first one the copy does not hold. */
static long h2_find_cut(__u64 i, void* data) {
  struct h2_walk* w = data;
  struct scratch* s = w->s;
  if (!s || w->off >= w->total) return 1;
  const __u64 left = w->total - w->off;
  const __u64 header = w->tls ? TLS_HEADER : H2_HEADER;
  if (w->off + (left < header ? left : header) > s->ev.copied) {
    w->cut = w->off;
    return 1;
  }
  __u64 size;
  __u8 type;
  if (!h2_frame_at(s, w->off, w->tls, &size, &type)) {
    w->lost = true;
    return 1;
  }
  w->off += size;
  return 0;
}

/* Where this event must end for h2_frames to send the rest (0: it holds every frame header it carries).
 * Updates h2_next past the frames whose headers the copy holds. */
static __noinline __u64 h2_cut(struct scratch* s, struct l7tap_conn_info* ci, __u8 dir) {
  if (!have_bpf_loop || !s || !ci) return 0;
  dir &= 1;
  const bool tls = ci->flags & L7TAP_CONN_TLS_REC;
  const __u64 next = ci->h2_next[dir] - 1;
  if (next < s->ev.position) {  /* bytes moved that this walk did not follow */
    ci->h2_next[dir] = 0;
    count(tls ? L7TAP_CNT_TLS_WALK_LOST : L7TAP_CNT_H2_WALK_LOST, 1);
    return 0;
  }
  struct h2_walk w = {.s = s,
                      .ci = ci,
                      .start = s->ev.position,
                      .off = next - s->ev.position,
                      .total = s->ev.length,
                      .dir = dir,
                      .tls = tls};
  bpf_loop(H2_FRAMES_PER_CALL, h2_find_cut, &w, 0);
  if (w.lost || (!w.cut && w.off < w.total) || (w.cut && !s->user_buf && !s->nsegs)) {
    ci->h2_next[dir] = 0;
    count(tls ? L7TAP_CNT_TLS_WALK_LOST
              : w.lost || w.cut ? L7TAP_CNT_H2_WALK_UNREADABLE : L7TAP_CNT_H2_WALK_LONG,
          1);
    return 0;
  }
  if (!w.cut) {
    ci->h2_next[dir] = s->ev.position + w.off + 1;
    return 0;
  }
  ci->h2_next[dir] = s->ev.position + w.cut + 1;
  return w.cut;
}

/* Copies `want` bytes of the call from offset `off` to the start of the event's data, across segments (gRPC
 * splits a header block over several). Global, so the verifier checks its loop once. Returns bytes copied. */
__noinline long h2_copy(struct scratch* s, __u64 off, __u64 want) {
  if (!s) return 0;
  __u64 done = 0;
  for (int k = 0; k < 8; k++) {
    if (done >= want || done >= L7TAP_MAX_PAYLOAD) break;
    __u64 avail = 0;
    const __u64 at = h2_locate(s, off + done, &avail);
    if (!at) break;
    __u64 n = want - done < avail ? want - done : avail;
    const long got = copy_user(s, (__u32)done, (const void*)at, n);
    if (got <= 0) break;
    done += got;
    if ((__u64)got < n) break;
  }
  return (long)done;
}

/* bpf_loop callback: sends the frame at w->off as an event of its own. */
static long h2_send_frame(__u64 i, void* data) {
  struct h2_walk* w = data;
  struct scratch* s = w->s;
  struct l7tap_conn_info* ci = w->ci;
  if (!s || !ci || w->off >= w->total) return 1;
  __u64 size;
  __u8 type;
  if (!h2_frame_at(s, w->off, w->tls, &size, &type)) {
    w->lost = true;
    return 1;
  }
  /* HTTP/2 DATA: the header only (bodies are never read). TLS application data: its first tls_record_copy
   * bytes (the agent decrypts a record's prefix from its start); other records whole. */
  __u64 want = w->tls ? (type == TLS_APPLICATION_DATA && size > tls_record_copy ? tls_record_copy : size)
               : type == 0 ? H2_HEADER
                           : size;
  if (want > L7TAP_MAX_PAYLOAD) want = L7TAP_MAX_PAYLOAD;
  const long got = h2_copy(s, w->off, want);
  const __u64 length = size < w->total - w->off ? size : w->total - w->off;
  s->ev.position = w->start + w->off;
  s->ev.length = length;
  s->ev.copied = got > 0 ? got : 0;
  s->ev.lost_events = 0;
  s->ev.lost_starts = 0;
  s->ev.unseen = 0;
  __u64 bytes = sizeof(s->ev) + (s->ev.copied & (2 * L7TAP_MAX_PAYLOAD - 1));
  if (bpf_ringbuf_output(&events, s, bytes, wakeup_flag())) {
    count(L7TAP_CNT_RINGBUF_FULL, 1);
    __sync_fetch_and_add(&ci->lost[w->dir & 1], 1ull << 32);
  } else {
    count(w->tls ? L7TAP_CNT_TLS_RECORD_EVENTS : L7TAP_CNT_H2_FRAME_EVENTS, 1);
  }
  w->off += size;
  return 0;
}

/* After the event that ends at `cut`: one event per frame from there to the end of the call. */
static __noinline void h2_frames(struct scratch* s, struct l7tap_conn_info* ci, __u8 dir, __u64 cut) {
  if (!have_bpf_loop || !s || !ci) return;
  dir &= 1;
  const __u64 call_start = s->ev.position;  /* still the first event's */
  const bool tls = ci->flags & L7TAP_CONN_TLS_REC;
  struct h2_walk w = {.s = s,
                      .ci = ci,
                      .start = call_start,
                      .off = cut,
                      .cut = cut,
                      .total = s->call_length,
                      .dir = dir,
                      .tls = tls};
  bpf_loop(H2_FRAMES_PER_CALL, h2_send_frame, &w, 0);
  if (w.lost || w.off < w.total) {
    ci->h2_next[dir] = 0;
    count(tls ? L7TAP_CNT_TLS_WALK_LOST : w.lost ? L7TAP_CNT_H2_WALK_UNREADABLE : L7TAP_CNT_H2_WALK_LONG, 1);
    return;
  }
  ci->h2_next[dir] = call_start + w.off + 1;
}

static void maybe_hold(__u64 pid_tgid); /* holds.bpf.h */

/* Sends a data event, reporting with it what this direction lost since the last one delivered; when it is
 * dropped itself, it is added to that loss instead. The reports are taken with an atomic exchange: two CPUs
 * sending on one connection never report the same loss twice. */
static __always_inline void finish_data(struct scratch* s, struct l7tap_conn_info* ci, __u8 dir, __u64 length,
                                        bool over_cap_counts) {
  dir &= 1;
  s->ev.direction = dir;
  s->ev.length = length;
  s->call_length = length;
  __u64* position = s->ev.source == L7TAP_SRC_TLS ? &ci->tls_position[dir] : &ci->position[dir];
  s->ev.position = __sync_fetch_and_add(position, length);
  ci->last_ns = s->ev.hdr.ts_ns;
  const bool datagram = ci->flags & L7TAP_CONN_UDP;
  if (datagram) {
    /* One datagram: DNS only (the socket's ports, or on an unconnected socket this datagram's peer port; the
     * header must agree). */
    if (!(ci->flags & L7TAP_CONN_DNS) && !(s->has_peer && is_dns_port(s->peer.port))) return;
    if ((ci->flags & L7TAP_CONN_PORT_PEER) && (!s->has_peer || datagram_port_skip(s->peer.port))) {
      count(L7TAP_CNT_DATAGRAMS_SKIPPED, 1);
      return;
    }
    if (!dns_header_ok(s)) {
      count(L7TAP_CNT_UDP_NOT_DNS, 1);
      return;
    }
  } else if (s->ev.source == L7TAP_SRC_SYSCALL && s->ev.position == 0 && starts_tls_record(s)) {
    /* A ClientHello (handshake record, message type 1): sent by a client, read by a server. */
    if (s->ev.copied >= 6 && s->data[0] == 22 && s->data[5] == 1) maybe_hold(bpf_get_current_pid_tgid());
    if (!tls_keys) {
      /* Encrypted: never parsed; the TLS uprobes (if the library is traced) send the plaintext. */
      ci->flags |= L7TAP_CONN_TLS;
      return;
    }
    /* Keys mode: the ciphertext goes to the agent, record by record from here (the handshake included). */
    ci->flags |= L7TAP_CONN_TLS | L7TAP_CONN_TLS_REC;
    ci->h2_next[dir] = have_bpf_loop ? 0 + 1 : 0;
  } else if (s->ev.source == L7TAP_SRC_SYSCALL && (ci->flags & L7TAP_CONN_TLS) && !(ci->flags & L7TAP_CONN_TLS_REC)) {
    return; /* ciphertext of a connection a TLS library's plaintext probes serve */
  }
  __u64 cut = 0;
  if (!datagram) {
    if (!(ci->flags & L7TAP_CONN_TLS_REC)) h2_start(s, ci, dir);
    if (ci->h2_next[dir]) cut = h2_cut(s, ci, dir);
  }
  if (cut) {
    /* This event ends where the first frame header past the copy begins; h2_frames sends the rest. */
    s->ev.length = cut;
    if (s->ev.copied > cut) s->ev.copied = cut;
    length = cut;
  }
  if (over_cap_counts && s->ev.copied < length) {
    count(L7TAP_CNT_TRUNCATED_EVENTS, 1);
    count(L7TAP_CNT_TRUNCATED_BYTES, length - s->ev.copied);
  }
  /* Read first: the exchange (an atomic) only when there is something to take. */
  const __u64 lost = ci->lost[dir] ? __sync_lock_test_and_set(&ci->lost[dir], 0) : 0;
  const __u64 unseen = ci->unseen[dir] ? __sync_lock_test_and_set(&ci->unseen[dir], 0) : 0;
  s->ev.lost_events = lost >> 32;
  s->ev.lost_starts = (__u32)lost;
  s->ev.unseen = unseen != 0 || (ci->flags & L7TAP_CONN_SHARED);
  __u64 size = sizeof(s->ev) + (s->ev.copied & (2 * L7TAP_MAX_PAYLOAD - 1));
  if (datagram && s->has_peer) {
    /* The datagram's peer goes after its payload (datagrams only: a stream's events stay as they are). */
    __u32 off = s->ev.copied;
    if (off > L7TAP_MAX_PAYLOAD) off = L7TAP_MAX_PAYLOAD;
    if (!bpf_probe_read_kernel(&s->data[off], sizeof(s->peer), &s->peer)) {
      s->ev.peer = 1;
      size += sizeof(s->peer);
    }
  }
  if (bpf_ringbuf_output(&events, s, size, wakeup_flag())) {
    count(L7TAP_CNT_RINGBUF_FULL, 1);
    const __u32 counter = lost_start_counter(s, datagram);
    if (counter) count(counter, 1);
    /* Back for the next event, with this one. */
    __sync_fetch_and_add(&ci->lost[dir], lost + (1ull << 32) + (counter ? 1 : 0));
    if (unseen) ci->unseen[dir] = 1;
  }
  if (cut) h2_frames(s, ci, dir, cut);
}

/* Bytes of (tgid, fd) in direction dir moved unseen: positions miss them, so the next event says so. */
static __always_inline void mark_unseen(__u32 tgid, __s32 fd, __u8 dir) {
  __u64 key = l7tap_conn_key(tgid, fd);
  struct l7tap_conn_info* ci = bpf_map_lookup_elem(&conns, &key);
  if (ci) ci->unseen[dir & 1] = 1;
}

/* Copies `total` bytes spread over an iovec array, in order, up to the cap. */
