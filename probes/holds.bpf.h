/* Holding new processes at their first TLS bytes until the agent has inspected (and, where TLS lives in them,
 * attached to) every file they run or map: a fresh static binary's first request is then never missed. Costs a
 * hash lookup per exec and per executable file mapping; a process running known files only is never held. */
#pragma once

#define SIGSTOP 19
#define PROT_EXEC 4

/* --hold-new-processes: set before load; the agent clears hold_enabled at run time (its watchdog gone). */
const volatile bool hold_new = false;
volatile bool hold_enabled = true;

/* Files the agent has inspected, as the kernel names them. Filled and bounded by the agent. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_MAX_KNOWN_FILES);
  __type(key, struct l7tap_file_key);
  __type(value, __u8);
} known_files SEC(".maps");

/* Processes that ran or mapped a file not known (struct l7tap_proc_files); removed at exit. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_MAX_PROCS);
  __type(key, __u32);
  __type(value, struct l7tap_proc_files);
} proc_files SEC(".maps");

/* The proc_files seq the agent cleared each process at (written by the agent only). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_MAX_PROCS);
  __type(key, __u32);
  __type(value, __u64);
} proc_ack SEC(".maps");

/* Processes stopped now, with bpf_ktime_get_ns() of the stop: whoever deletes the entry resumes the process
 * (the agent once it is cleared, the watchdog at the deadline). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, L7TAP_MAX_HELD);
  __type(key, __u32);
  __type(value, __u64);
} held SEC(".maps");

/* The file behind fd of the current task, or NULL. */
static __always_inline struct file* fd_to_file(__s32 fd) {
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  struct fdtable* fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds)) return NULL;
  struct file** fds = BPF_CORE_READ(fdt, fd);
  struct file* f = NULL;
  if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd])) return NULL;
  return f;
}

/* The process runs or maps `f`: unless the agent knows the file, the process needs clearing again. */
static __noinline void note_file(__u32 tgid, struct file* f) {
  if (!f) return;
  struct l7tap_file_key key = {.dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev), .ino = BPF_CORE_READ(f, f_inode, i_ino)};
  if (bpf_map_lookup_elem(&known_files, &key)) return;
  struct l7tap_proc_files* p = bpf_map_lookup_elem(&proc_files, &tgid);
  if (!p) {
    struct l7tap_proc_files fresh = {.seq = 1, .nkeys = 1};
    fresh.keys[0] = key;
    if (bpf_map_update_elem(&proc_files, &tgid, &fresh, BPF_NOEXIST) == 0) return;
    p = bpf_map_lookup_elem(&proc_files, &tgid); /* made meanwhile by another thread */
    if (!p) {
      count(L7TAP_CNT_PROC_TABLE_FULL, 1);
      return;
    }
  }
  __u32 n = p->nkeys;
  if (n < L7TAP_PROC_KEYS) p->keys[n & (L7TAP_PROC_KEYS - 1)] = key;
  p->nkeys = n + 1;
  /* Last: the agent reads seq before the keys, so keys recorded past the seq it acks are looked at again. */
  __sync_fetch_and_add(&p->seq, 1);
}

static __always_inline void note_exec(__u64 pid_tgid) {
  if (!hold_new) return;
  struct task_struct* task = bpf_get_current_task_btf();
  note_file(pid_tgid >> 32, BPF_CORE_READ(task, mm, exe_file));
}

static __always_inline void note_mmap(__s32 fd, __u64 prot) {
  if (!hold_new || fd < 0 || !(prot & PROT_EXEC)) return;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  note_file(pid_tgid >> 32, fd_to_file(fd));
}

/* The current process is about to speak TLS (its first record on a connection has just moved): if it runs or
 * maps a file the agent has not cleared, it stops on its way back to user space, before it can derive or use
 * any key of this handshake. */
static __noinline void maybe_hold(__u64 pid_tgid) {
  if (!hold_new || !hold_enabled) return;
  __u32 tgid = pid_tgid >> 32;
  struct l7tap_proc_files* p = bpf_map_lookup_elem(&proc_files, &tgid);
  if (!p) return;
  __u64* acked = bpf_map_lookup_elem(&proc_ack, &tgid);
  if (acked && *acked >= p->seq) return;
  if (bpf_map_lookup_elem(&held, &tgid)) return; /* another thread's call held it already */
  __u64 now = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&held, &tgid, &now, BPF_NOEXIST)) {
    count(L7TAP_CNT_HOLD_REFUSED, 1);
    return;
  }
  if (bpf_send_signal(SIGSTOP)) {
    bpf_map_delete_elem(&held, &tgid);
    count(L7TAP_CNT_HOLD_REFUSED, 1);
    return;
  }
  count(L7TAP_CNT_HOLDS, 1);
  struct l7tap_hold_event ev = {};
  fill_header(&ev.hdr, L7TAP_EV_PROCESS_HOLD, pid_tgid);
  ev.tgid = tgid;
  /* At once: the process waits for the agent. */
  if (bpf_ringbuf_output(&events, &ev, sizeof(ev), BPF_RB_FORCE_WAKEUP)) count(L7TAP_CNT_RINGBUF_FULL, 1);
}

static __always_inline void forget_process_holds(__u32 tgid) {
  if (!hold_new) return;
  bpf_map_delete_elem(&proc_files, &tgid);
  bpf_map_delete_elem(&proc_ack, &tgid);
  if (bpf_map_delete_elem(&held, &tgid) == 0) count(L7TAP_CNT_HOLD_EXITED, 1); /* killed while stopped */
}
