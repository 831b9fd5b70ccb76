// SPDX-License-Identifier: GPL-2.0
/* The capture object: socket syscalls (two attach backends: syscall tracepoints tp_*, ksyscall kprobes ks_*;
 * user space loads one) TLS library uprobes (OpenSSL) and Go crypto/tls uprobes, sharing one connection table
 * so that TLS traffic is counted once. */
// clang-format off
#include "vmlinux.h" /* first: the libbpf headers below need its types */
// clang-format on
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"

char LICENSE[] SEC("license") = "GPL";

// clang-format off
#include "state.bpf.h"
#include "selection.bpf.h"
#include "holds.bpf.h"
#include "syscalls.bpf.h"
#include "fd_lifecycle.bpf.h"
#include "tls.bpf.h"
#include "go_tls.bpf.h"
// clang-format on
