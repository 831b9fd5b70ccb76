/* The whole kernel <-> user-space contract of l7tap's probes: every event, and every map key and value that
 * both sides read or write. C only, fixed-width fields, explicit padding. Enums are append-only with explicit
 * values; bump L7TAP_CONTRACT_VERSION on any layout change. */
#ifndef L7TAP_PROBES_EVENTS_H
#define L7TAP_PROBES_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define L7TAP_CONTRACT_VERSION 8

/* Largest payload copy per event; --max-payload-bytes may only lower it. Power of two (verifier bounds). */
#define L7TAP_MAX_PAYLOAD 16384
#define L7TAP_DEFAULT_PAYLOAD 4096
/* Bounded loops in the kernel: iovec segments copied per call (L7TAP_MAX_IOV with bpf_loop, 5.17+; else
 * L7TAP_MIN_IOV), messages per sendmmsg/recvmmsg. gRPC's C core writes each HTTP/2 frame header and payload
 * as separate segments, up to 260 per sendmsg (the copy still stops at the byte cap). */
#define L7TAP_MAX_IOV 1024 /* UIO_MAXIOV */
#define L7TAP_MIN_IOV 8
#define L7TAP_MAX_MMSG 8
#define L7TAP_COMM_LEN 16
/* Attach cookies. Bit 40: the probe sits on an instruction the kernel single-steps (for the hit counters).
 * Go probes: bits 0-31 the binary's go_offsets slot, bits 32-39 which probe (L7TAP_GO_PROBE_*). */
#define L7TAP_COOKIE_SINGLE_STEP (1ull << 40)
#define L7TAP_COOKIE_GO_PROBE_SHIFT 32
#define L7TAP_GO_PROBE_WRITE 0       /* (*Conn).Write past its stack check */
#define L7TAP_GO_PROBE_READ_ENTER 1  /* (*Conn).Read past its stack check */
#define L7TAP_GO_PROBE_READ_RETURN 2 /* a RET of (*Conn).Read */
/* Ports (--dns-ports) whose UDP datagrams and TCP streams are DNS. */
#define L7TAP_MAX_DNS_PORTS 16
/* Go executables with crypto/tls probes, each with its own struct offsets (slots are reused once a binary's
 * probes are detached). */
#define L7TAP_MAX_GO_BINARIES 4096

/* Capacities of the kernel tables. Every one is a plain hash map: a full table refuses an insert (counted),
 * it never evicts a live entry behind user space's back; the agent's sweeper removes stale entries. */
#define L7TAP_DEFAULT_MAX_CONNS 65536 /* conns and muted; --max-connections sets it */
#define L7TAP_MAX_SSL_SESSIONS 65536  /* ssl_fds */
#define L7TAP_MAX_GO_CALLS 16384      /* go_calls: (*tls.Conn).Read calls in progress */
#define L7TAP_MAX_PIDS 1024           /* --pid, --pid-tree, --exclude-pid values each */
/* proc_verdicts: processes with a selection verdict (--pid, --pid-tree, --exe, --container-id and their
 * exclusions); a fork that does not fit is counted (L7TAP_CNT_VERDICT_TABLE_FULL). */
#define L7TAP_MAX_VERDICTS 65536
#define L7TAP_MAX_PORTS 64   /* sel_ports: --port and --exclude-port values */
#define L7TAP_MAX_CGROUPS 8  /* --cgroup values; --exclude-cgroup values (each in .rodata) */
#define L7TAP_MAX_KNOWN_FILES 65536   /* known_files: executable files the agent has inspected */
#define L7TAP_MAX_PROCS 65536         /* proc_files and proc_ack: processes that mapped a file not yet known */
#define L7TAP_MAX_HELD 4096           /* held: processes stopped now */

enum l7tap_event_kind {
  L7TAP_EV_CONN_OPEN = 1,    /* a TCP/UDP socket connection first seen (connect, accept, or first I/O) */
  L7TAP_EV_DATA = 2,         /* bytes read or written on a followed connection */
  L7TAP_EV_CONN_CLOSE = 3,   /* close() of a followed connection */
  L7TAP_EV_PROCESS_EXIT = 4, /* a process exited: its connections are gone without close() */
  L7TAP_EV_PROCESS_EXEC = 5, /* a process called exec(): new code may bring new TLS libraries */
  L7TAP_EV_TLS_SECRET = 6,   /* a TLS library derived a secret (once per secret and handshake) */
  L7TAP_EV_PROCESS_HOLD = 7, /* a process the agent has not cleared began TLS: it is stopped until cleared */
};

/* Where a TLS secret was taken (struct l7tap_secret_event.hook; each is a program of its own). */
enum l7tap_keylog_hook {
  L7TAP_HOOK_NSS_KEYLOG = 1,     /* OpenSSL nss_keylog_int(label, ssl, client_random, 32, secret, len) */
  L7TAP_HOOK_SSL_LOG_SECRET = 2, /* OpenSSL ssl_log_secret(ssl, label, secret, len): no client random */
  L7TAP_HOOK_GO_WRITE_KEY_LOG = 3, /* Go crypto/tls (*Config).writeKeyLog(label, clientRandom, secret) */
};

/* Where a data event's bytes were taken from. */
enum l7tap_source {
  L7TAP_SRC_SYSCALL = 0, /* socket syscall buffers (plaintext connections) */
  L7TAP_SRC_TLS = 1,     /* TLS library buffers: the plaintext of an encrypted connection */
};

enum l7tap_direction {
  L7TAP_DIR_EGRESS = 0,  /* written by the traced process */
  L7TAP_DIR_INGRESS = 1, /* read by the traced process */
};

enum l7tap_role {
  L7TAP_ROLE_UNKNOWN = 0, /* socket already open when first seen */
  L7TAP_ROLE_CLIENT = 1,  /* the process called connect() */
  L7TAP_ROLE_SERVER = 2,  /* the process accepted it */
};

enum l7tap_l4 {
  L7TAP_L4_TCP = 1,
  L7TAP_L4_UDP = 2,
};

/* Counters kept in a per-CPU array map, indexed by this enum. */
enum l7tap_counter {
  L7TAP_CNT_RINGBUF_FULL = 0,       /* events dropped: ring buffer reserve/output failed */
  L7TAP_CNT_TRUNCATED_EVENTS = 1,   /* data events whose payload exceeded the copy cap */
  L7TAP_CNT_TRUNCATED_BYTES = 2,    /* bytes not copied because of the cap */
  L7TAP_CNT_COPY_FAILED = 3,        /* bpf_probe_read_user failures (payload replaced by a gap) */
  L7TAP_CNT_IOV_LIMIT = 4,          /* iovec segments or mmsg messages beyond the bounded loops */
  L7TAP_CNT_CONN_TABLE_FULL = 5,    /* connection map insert failed */
  L7TAP_CNT_TLS_FD_MISMATCH = 6,    /* one TLS call made syscalls on two different fds */
  L7TAP_CNT_TLS_NO_CONN = 7,        /* TLS plaintext whose connection could not be found (dropped) */
  L7TAP_CNT_GO_CONN_UNREADABLE = 8, /* Go TLS plaintext whose *tls.Conn did not lead to an fd (dropped) */
  L7TAP_CNT_UDP_NOT_DNS = 9,        /* datagrams on a DNS port whose header is not DNS (not sent) */
  L7TAP_CNT_HITS_EMULATED = 10,     /* uprobe hits on an instruction the kernel emulates (one trap) */
  L7TAP_CNT_HITS_SINGLE_STEP = 11,  /* uprobe hits on an instruction the kernel single-steps (two traps) */
  L7TAP_CNT_HITS_URETPROBE = 12,    /* uretprobe hits (the return trampoline) */
  L7TAP_CNT_NO_THREAD_STATE = 13,   /* calls not followed: the thread's task-local state could not be had */
  L7TAP_CNT_SSL_TABLE_FULL = 14,        /* ssl_fds insert refused */
  L7TAP_CNT_GO_CALLS_FULL = 15,         /* go_calls insert refused: that Read's plaintext is lost */
  L7TAP_CNT_SYSCALL_RETURN_MISSED = 16, /* a followed syscall's exit never ran (kretprobe missed) */
  L7TAP_CNT_TLS_RETURN_MISSED = 17,     /* a TLS data call's return never ran (uretprobe missed) */
  L7TAP_CNT_GO_RETURN_MISSED = 18,      /* a Go (*Conn).Read's RET probe never ran (goroutine unwound) */
  L7TAP_CNT_LOST_REQUEST_STARTS = 19,   /* dropped data events whose bytes began an HTTP/1 request */
  L7TAP_CNT_LOST_RESPONSE_STARTS = 20,  /* dropped data events whose bytes began an HTTP/1 response */
  L7TAP_CNT_LOST_DNS_MESSAGES = 21,     /* dropped DNS datagrams */
  L7TAP_CNT_H2_FRAME_EVENTS = 22,       /* events sent for HTTP/2 frames past a call's copy cap */
  L7TAP_CNT_H2_WALK_LOST = 23,          /* HTTP/2 frame walks given up: bytes moved that the walk missed */
  L7TAP_CNT_H2_WALK_UNREADABLE = 24,    /* ... a frame header out of reach (unreadable, or no buffer) */
  L7TAP_CNT_H2_WALK_LONG = 25,          /* ... more frames in one call than a walk takes */
  L7TAP_CNT_TLS_RECORD_EVENTS = 26,     /* events sent for TLS records past a call's copy cap (keys mode) */
  L7TAP_CNT_TLS_SECRETS = 27,           /* secrets sent (L7TAP_EV_TLS_SECRET) */
  L7TAP_CNT_TLS_SECRET_UNREADABLE = 28, /* secrets whose label or bytes could not be read (not sent) */
  L7TAP_CNT_TLS_WALK_LOST = 29,         /* TLS record walks given up (bytes moved the walk missed, a header
                                           out of reach, more records in one call than a walk takes) */
  L7TAP_CNT_HOLDS = 30,             /* processes stopped at their first TLS bytes until the agent cleared them */
  L7TAP_CNT_HOLD_REFUSED = 31,      /* holds not made: the held table was full or the signal failed */
  L7TAP_CNT_PROC_TABLE_FULL = 32,   /* proc_files insert refused: that process can start TLS unheld */
  L7TAP_CNT_PEER_UNREADABLE = 33,   /* datagram calls whose address argument could not be read */
  L7TAP_CNT_SPLICE = 34,            /* splice calls on followed sockets: bytes counted by length, not copied */
  L7TAP_CNT_FD_SHARED = 35,         /* followed sockets given a second fd (dup*, fcntl F_DUPFD*) */
  L7TAP_CNT_EXEC_CLOSE_OVERFLOW = 36, /* execve closed more followed close-on-exec sockets than it tracks */
  L7TAP_CNT_IO_URING = 37,          /* io_uring operations submitted on followed sockets (marked unseen) */
  L7TAP_CNT_VERDICT_TABLE_FULL = 38, /* forks of a selected/excluded process whose verdict did not fit */
  L7TAP_CNT_CONNS_SKIPPED = 39,     /* connections not followed: no selected port (--port, --exclude-port) */
  L7TAP_CNT_DATAGRAMS_SKIPPED = 40, /* datagrams of unconnected UDP sockets not sent: peer port not selected */
  L7TAP_CNT_HOLD_EXITED = 41,       /* held processes that ended while held (killed while stopped) */
  L7TAP_CNT__MAX = 48,
};

/* Connection table key (conns, muted): the process in the high half, the fd in the low half. */
static inline __u64 l7tap_conn_key(__u32 tgid, __s32 fd) { return ((__u64)tgid << 32) | (__u32)fd; }

/* struct l7tap_conn_info.flags */
#define L7TAP_CONN_TLS 1 /* encrypted: syscall payloads are not sent; the TLS uprobes send the plaintext */
#define L7TAP_CONN_UDP 2 /* a UDP socket: only DNS datagrams are sent (L7TAP_CONN_DNS and a header check) */
#define L7TAP_CONN_DNS 4 /* local or remote port is a DNS port (--dns-ports) */
/* One of its streams began with the HTTP/2 client preface or a SETTINGS frame: events copy up to
 * L7TAP_MAX_PAYLOAD whatever --max-payload-bytes says, and with bpf_loop the kernel follows the frames by their
 * lengths, so a frame whose header lies past the copy is sent as an event of its own (its header, and the
 * payload too unless it is DATA). */
#define L7TAP_CONN_H2 8
/* Keys mode (--tls-capture keys|auto): a TLS connection whose ciphertext is sent, for the agent to decrypt with
 * the secrets the key-log probes report. The kernel follows the records by their lengths (h2_next holds the
 * next record header), so every record boundary is reported even past a call's copy cap. Cleared when a TLS
 * library's plaintext probes serve the connection. */
#define L7TAP_CONN_TLS_REC 16
/* A UDP socket whose own and connected ports are not DNS ports sent a datagram to one (sendto, sendmsg with
 * an address: an unconnected resolver): its receives are followed too, each datagram judged by its peer. */
#define L7TAP_CONN_DNS_PEER 32
/* Its socket has another fd in this process (dup): each fd sees part of one stream, so every event says
 * bytes may have moved unseen before it, until the other fd is closed (shared_with). */
#define L7TAP_CONN_SHARED 64
/* Not followed: neither port is selected (--port) or one is excluded (--exclude-port). Kept so its calls cost
 * one lookup; no event is ever sent for it. */
#define L7TAP_CONN_SKIPPED 128
/* An unconnected UDP socket whose own port is not selected (--port): each datagram is sent only if its peer's
 * port is. */
#define L7TAP_CONN_PORT_PEER 256

/* proc_verdicts value: why a process is selected or excluded (user space and the fork tracepoint write it). */
#define L7TAP_SEL_PID 1          /* --pid: this process only */
#define L7TAP_SEL_TREE 2         /* --pid-tree: this process and what it forks */
#define L7TAP_SEL_MATCH 4        /* --exe / --container-id matched at exec or the start-up scan */
#define L7TAP_SEL_EXCLUDED_PID 8 /* --exclude-pid */
#define L7TAP_SEL_EXCLUDED 16    /* --exclude-exe / --exclude-container-id matched */
/* Exec'd, the agent's decision on its new executable not written yet: traced until then (the agent handles the
 * exec before any later event of the process, and drops what it traced of one it then finds not selected). */
#define L7TAP_SEL_PENDING 32
/* What a forked child takes from its parent (same executable, same cgroup, same tree). */
#define L7TAP_SEL_INHERITED (L7TAP_SEL_TREE | L7TAP_SEL_MATCH | L7TAP_SEL_EXCLUDED)
#define L7TAP_SEL_TRACE (L7TAP_SEL_PID | L7TAP_SEL_TREE | L7TAP_SEL_MATCH | L7TAP_SEL_PENDING)
/* What an exec keeps (the rest is decided again). */
#define L7TAP_SEL_KEPT_AT_EXEC (L7TAP_SEL_PID | L7TAP_SEL_TREE | L7TAP_SEL_EXCLUDED_PID)
#define L7TAP_SEL_SKIP (L7TAP_SEL_EXCLUDED_PID | L7TAP_SEL_EXCLUDED)
/* sel_ports value */
#define L7TAP_PORT_SELECTED 1
#define L7TAP_PORT_EXCLUDED 2

/* conns value: one followed socket. Byte positions are per direction (enum l7tap_direction). */
struct l7tap_conn_info {
  __u64 generation;      /* distinct for every connection that ever had this key */
  __u64 position[2];     /* syscall byte stream */
  __u64 tls_position[2]; /* plaintext byte stream of a TLS connection */
  __u64 last_ns;         /* bpf_ktime_get_ns() of its last event: the sweeper's idle test */
  /* Per direction: data events dropped (ring buffer full) since the last one delivered, in the high half,
   * and how many of them began a message (an HTTP/1 request or final-status line, a DNS datagram) in the low
   * half. The next event delivered in that direction (or the close) takes both with one atomic exchange and
   * carries them. */
  __u64 lost[2];
  /* Per direction: nonzero when bytes moved that no position counts (a missed return probe): the next event
   * delivered says so. */
  __u64 unseen[2];
  /* HTTP/2 (L7TAP_CONN_H2) or TLS records (L7TAP_CONN_TLS_REC), per direction: stream position + 1 of the
   * next frame or record header, 0 when not known. Frames and records whose header lies past a call's copy
   * cap are sent as events of their own (see h2_frames). */
  __u64 h2_next[2];
  __u32 flags; /* L7TAP_CONN_* */
  /* L7TAP_CONN_SHARED: fd + 1 of the one other fd of its socket in this process (0: more than one, or not
   * known), so that closing that one ends the sharing. */
  __u32 shared_with;
};

/* muted value: user space gave up on one source of a connection generation (not its protocol, upgraded):
 * those bytes are no longer copied or sent. Key: l7tap_conn_key. */
struct l7tap_mute {
  __u64 generation;
  __u32 source; /* enum l7tap_source */
  __u32 pad;
};

/* ssl_fds: which socket a TLS session object uses, for calls that make no syscall (buffered reads). */
struct l7tap_ssl_key {
  __u64 ssl;
  __u32 tgid;
  __u32 pad;
};

struct l7tap_ssl_conn {
  __u64 generation; /* of the connection on fd when it was learnt: stale once that connection is gone */
  __s32 fd;
  __u32 pad;
};

/* go_calls: a (*tls.Conn).Read in progress, by goroutine (the g pointer: goroutines move between threads). */
struct l7tap_go_call_key {
  __u64 g;
  __u32 tgid;
  __u32 pad;
};

struct l7tap_go_call {
  __u64 conn; /* *tls.Conn */
  __u64 buf;
  __u64 ts_ns; /* entry: the sweeper drops calls of vanished processes and ones idle past the timeout */
};

/* go_offsets, per Go binary (slot = attach cookie): offsets of tls.Conn.conn, of net.conn.fd, of
 * netFD.pfd + FD.Sysfd. */
struct l7tap_go_offsets {
  __u32 tls_conn_conn;
  __u32 net_conn_fd;
  __u32 sysfd;
  __u32 valid;
};

struct l7tap_conn_id {
  __u32 tgid;
  __s32 fd;
  __u64 generation; /* distinct for every connection that ever had this (tgid, fd) */
};

struct l7tap_event_header {
  __u16 kind;    /* enum l7tap_event_kind */
  __u16 version; /* L7TAP_CONTRACT_VERSION */
  __u32 pid;     /* thread id of the caller */
  __u64 ts_ns;   /* bpf_ktime_get_ns() at syscall exit */
};

struct l7tap_conn_event {
  struct l7tap_event_header hdr;
  struct l7tap_conn_id conn;
  __u16 family;        /* AF_INET / AF_INET6 */
  __u8 l4;             /* enum l7tap_l4 */
  __u8 role;           /* enum l7tap_role */
  __u16 local_port;    /* host byte order */
  __u16 remote_port;   /* host byte order */
  __u8 local_addr[16]; /* IPv4 in the first 4 bytes */
  __u8 remote_addr[16];
  char comm[L7TAP_COMM_LEN]; /* the process (thread group leader) name */
};

struct l7tap_data_event {
  struct l7tap_event_header hdr;
  struct l7tap_conn_id conn;
  __u64 position; /* stream offset of the first byte, per connection and direction */
  __u32 length;   /* bytes the syscall moved (may exceed copied) */
  __u32 copied;   /* payload bytes that follow this header */
  __u8 direction; /* enum l7tap_direction */
  __u8 source;    /* enum l7tap_source; positions count each source's stream separately */
  __u8 unseen;    /* bytes this direction moved before this event were never seen nor counted in position */
  __u8 peer;      /* a struct l7tap_peer follows the payload: the datagram's other end, named by its call */
  __u8 pad[4];
  __u32 lost_events; /* events of this direction dropped before this one (see l7tap_conn_info) */
  __u32 lost_starts; /* of those, the ones that began a message */
  /* `copied` payload bytes follow the struct in the same record, then the l7tap_peer when `peer` is set. */
};

/* The other end of one UDP datagram as its call named it: sendto's dest_addr, recvfrom's src_addr, a msghdr's
 * msg_name (sendmsg, recvmsg, sendmmsg, recvmmsg). Calls that name no address carry none: their peer is the
 * socket's connected one. Unaligned after the payload (read it with memcpy). */
struct l7tap_peer {
  __u16 family; /* AF_INET / AF_INET6 */
  __u16 port;   /* host byte order */
  __u32 pad;
  __u8 addr[16]; /* IPv4 in the first 4 bytes */
};

struct l7tap_close_event {
  struct l7tap_event_header hdr;
  struct l7tap_conn_id conn;
  __u32 lost_events[2]; /* by direction: dropped after the last event delivered */
  __u32 lost_starts[2];
};

#define L7TAP_TLS_LABEL_LEN 32 /* the longest NSS label, CLIENT_HANDSHAKE_TRAFFIC_SECRET, is 31 */
#define L7TAP_TLS_RANDOM_LEN 32
#define L7TAP_TLS_SECRET_MAX 64 /* TLS 1.3 secrets are a hash long (48 for SHA-384); TLS 1.2's master 48 */

/* One secret of one handshake. Held in the agent's memory only (never logged or exported). */
struct l7tap_secret_event {
  struct l7tap_event_header hdr;
  __u32 tgid;
  __u8 hook;       /* enum l7tap_keylog_hook */
  __u8 has_random; /* client_random holds the handshake's ClientHello random */
  __u8 secret_len;
  __u8 pad;
  __u64 ssl; /* the library's session object (OpenSSL SSL*): pairs secrets without a client random */
  char label[L7TAP_TLS_LABEL_LEN]; /* NSS key-log label, NUL-terminated */
  __u8 client_random[L7TAP_TLS_RANDOM_LEN];
  __u8 secret[L7TAP_TLS_SECRET_MAX];
};

/* ---- Holding new processes (--hold-new-processes) ----
 * A file is identified as the kernel sees it: the superblock's device (kernel encoding, MAJOR << 20 | MINOR)
 * and the inode number, of the file an executable is run or mapped from. */
struct l7tap_file_key {
  __u64 dev;
  __u64 ino;
};

/* proc_files, by tgid: written by the probes only. `seq` grows each time the process runs (exec) or maps
 * (mmap with PROT_EXEC) a file not in known_files; the first L7TAP_PROC_KEYS such files are recorded. The agent
 * clears a process by inspecting what it runs and maps, then storing the `seq` it read in proc_ack (and the
 * files in known_files). A process whose seq is past its ack is stopped (SIGSTOP) at its first TLS bytes, and
 * resumed by the agent once cleared, or by the agent's watchdog at the deadline. */
#define L7TAP_PROC_KEYS 4
struct l7tap_proc_files {
  __u64 seq;
  __u32 nkeys; /* may exceed L7TAP_PROC_KEYS: the rest were not recorded */
  __u32 pad;
  struct l7tap_file_key keys[L7TAP_PROC_KEYS];
};

struct l7tap_hold_event {
  struct l7tap_event_header hdr;
  __u32 tgid;
  __u32 pad;
};

#define L7TAP_PATH_LEN 256

struct l7tap_exec_event {
  struct l7tap_event_header hdr;
  __u32 tgid;
  __u32 pad;
  char filename[L7TAP_PATH_LEN]; /* as passed to execve: lets a process that already exited be inspected */
};

struct l7tap_exit_event {
  struct l7tap_event_header hdr;
  __u32 tgid;
  __u32 pad;
};

#endif
