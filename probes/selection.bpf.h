/* Process selection kept across forks and exits (the verdicts themselves: proc_verdicts, state.bpf.h). */
#pragma once

/* A process's exit: its verdict goes (a later process with its pid starts undecided). */
static __always_inline void forget_verdict(__u32 tgid) { bpf_map_delete_elem(&proc_verdicts, &tgid); }

/* An exec with exec-time rules (--exe, --container-id): traced until user space has decided on the new
 * executable (L7TAP_SEL_PENDING); what --pid, --pid-tree and --exclude-pid gave it stays. */
static __always_inline void verdict_at_exec(__u32 tgid) {
  __u8* v = bpf_map_lookup_elem(&proc_verdicts, &tgid);
  const __u8 bits = ((v ? *v : 0) & L7TAP_SEL_KEPT_AT_EXEC) | L7TAP_SEL_PENDING;
  if (bpf_map_update_elem(&proc_verdicts, &tgid, &bits, BPF_ANY)) count(L7TAP_CNT_VERDICT_TABLE_FULL, 1);
}

/* A new process (not a thread) takes what is inherited of its parent's verdict: a --pid-tree's descendants
 * forked later, a selected or excluded program's children (same executable until they exec, same cgroup).
 * Loaded only when selecting. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_process_fork, struct task_struct* parent, struct task_struct* child) {
  __u32 ptgid = BPF_CORE_READ(parent, tgid);
  __u32 ctgid = BPF_CORE_READ(child, tgid);
  if (ptgid == ctgid) return 0; /* a thread */
  __u8* v = bpf_map_lookup_elem(&proc_verdicts, &ptgid);
  const __u8 bits = v ? *v & L7TAP_SEL_INHERITED : 0; /* not PENDING: that decision is the parent's */
  if (!bits) {
    bpf_map_delete_elem(&proc_verdicts, &ctgid); /* a stale one, should an exit have been missed */
    return 0;
  }
  if (bpf_map_update_elem(&proc_verdicts, &ctgid, &bits, BPF_ANY)) count(L7TAP_CNT_VERDICT_TABLE_FULL, 1);
  return 0;
}
