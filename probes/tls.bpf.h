/* TLS library uprobes (OpenSSL and compatible). SSL_read/SSL_write(ssl, buf, num) return the byte count;
 * SSL_read_ex/SSL_write_ex return 1 and store the count through their 4th argument. Plaintext is copied
 * from the caller's buffer at return, when its length is known. Attached per file by user space. */
#pragma once

static __always_inline void tls_enter(void* ssl, void* buf, void* len_ptr, __u8 dir) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  struct thread_state* t = current_thread(true);
  if (!t) {
    count(L7TAP_CNT_NO_THREAD_STATE, 1);  /* this call's plaintext is lost */
    return;
  }
  if (t->tls.kind == TLS_DATA) {
    /* The previous call's return never ran (a uretprobe the kernel missed, or a longjmp out of it). */
    count(L7TAP_CNT_TLS_RETURN_MISSED, 1);
    if (t->tls.fd >= 0) mark_unseen(pid_tgid >> 32, t->tls.fd, t->tls.direction);
  }
  t->tls = (struct tls_call){.ssl = (__u64)ssl,
                             .buf = (__u64)buf,
                             .len_ptr = (__u64)len_ptr,
                             .fd = -1,
                             .kind = TLS_DATA,
                             .direction = dir};
}

/* The fd of this call: named by a nested syscall, or remembered from an earlier call of the same session. */
static __always_inline __s32 tls_fd(const struct tls_call* c, __u32 tgid) {
  if (c->fd >= 0) return c->fd;
  struct l7tap_ssl_key key = {.ssl = c->ssl, .tgid = tgid};
  struct l7tap_ssl_conn* known = bpf_map_lookup_elem(&ssl_fds, &key);
  return known ? known->fd : -1;
}

/* Remembers the session's connection when a nested syscall named it; written only when new or changed (an
 * update replaces the element, a lookup only reads it). */
static __always_inline void remember_ssl_conn(const struct tls_call* c, __u32 tgid,
                                              const struct l7tap_conn_info* ci) {
  if (c->fd < 0) return;
  struct l7tap_ssl_key key = {.ssl = c->ssl, .tgid = tgid};
  struct l7tap_ssl_conn* known = bpf_map_lookup_elem(&ssl_fds, &key);
  if (known && known->fd == c->fd && known->generation == ci->generation) return;
  struct l7tap_ssl_conn value = {.generation = ci->generation, .fd = c->fd};
  if (bpf_map_update_elem(&ssl_fds, &key, &value, BPF_ANY)) count(L7TAP_CNT_SSL_TABLE_FULL, 1);
}

/* A TLS library's plaintext probes serve this connection: its ciphertext is no longer sent (keys mode sends it
 * until then), and the record walk's positions (syscall stream) are forgotten. */
static __always_inline void plaintext_source(struct l7tap_conn_info* ci) {
  if (ci->flags & L7TAP_CONN_TLS_REC) {
    ci->h2_next[0] = 0;
    ci->h2_next[1] = 0;
  }
  ci->flags = (ci->flags | L7TAP_CONN_TLS) & ~L7TAP_CONN_TLS_REC;
}

static __always_inline void tls_exit(long ret) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct thread_state* t = current_thread(false);
  if (!t || t->tls.kind != TLS_DATA) return;
  struct tls_call c = t->tls;
  t->tls.kind = 0;

  __u64 n = 0;
  if (c.len_ptr) {
    /* The _ex functions return 1; OpenSSL's internal worker (probed instead of both wrappers) any n > 0. */
    if (ret <= 0 || bpf_probe_read_user(&n, sizeof(n), (void*)c.len_ptr)) return;
  } else if (ret > 0) {
    n = ret;
  }
  if (n == 0) return;

  __s32 fd = tls_fd(&c, pid_tgid >> 32);
  struct l7tap_conn_info* ci = fd >= 0 ? find_conn(pid_tgid, fd) : NULL;
  if (!ci) {
    if (!conn_skipped(pid_tgid >> 32, fd)) count(L7TAP_CNT_TLS_NO_CONN, 1);
    return;
  }
  remember_ssl_conn(&c, pid_tgid >> 32, ci);
  plaintext_source(ci);
  if (is_muted(l7tap_conn_key(pid_tgid >> 32, fd), ci, L7TAP_SRC_TLS)) return;
  struct scratch* s = begin_data(pid_tgid, fd, ci, L7TAP_SRC_TLS);
  if (!s) return;
  long got = copy_user(s, 0, (const void*)c.buf, n);
  s->ev.copied = got > 0 ? got : 0;
  s->user_buf = c.buf;
  finish_data(s, ci, c.direction, n, true);
}

/* The handshake (SSL_do_handshake, which SSL_accept and SSL_connect call) makes the first syscalls of a
 * session: remembering its fd here covers a first SSL_read served from bytes the handshake buffered. It
 * never replaces a data call in progress (the handshake can run inside SSL_read/SSL_write). */
static __always_inline void handshake_enter(void* ssl) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid)) return;
  struct thread_state* t = current_thread(true);
  if (t && !t->tls.kind) t->tls = (struct tls_call){.ssl = (__u64)ssl, .fd = -1, .kind = TLS_HANDSHAKE};
}

static __always_inline void handshake_exit(void) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct thread_state* t = current_thread(false);
  if (!t || t->tls.kind != TLS_HANDSHAKE) return;
  struct tls_call c = t->tls;
  t->tls.kind = 0;
  if (c.fd < 0) return;
  struct l7tap_conn_info* ci = find_conn(pid_tgid, c.fd);
  if (ci) remember_ssl_conn(&c, pid_tgid >> 32, ci);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void* ssl, void* buf) {
  count_hit(ctx);
  tls_enter(ssl, buf, 0, L7TAP_DIR_INGRESS);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void* ssl, void* buf, __u64 num, void* readbytes) {
  count_hit(ctx);
  tls_enter(ssl, buf, readbytes, L7TAP_DIR_INGRESS);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void* ssl, void* buf) {
  count_hit(ctx);
  tls_enter(ssl, buf, 0, L7TAP_DIR_EGRESS);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void* ssl, void* buf, __u64 num, void* written) {
  count_hit(ctx);
  tls_enter(ssl, buf, written, L7TAP_DIR_EGRESS);
  return 0;
}

/* One return program serves all four data functions: the entry recorded which one it was. */
SEC("uretprobe")
int BPF_KRETPROBE(ssl_data_exit, int ret) {
  count_return_hit();
  tls_exit(ret);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_handshake_enter, void* ssl) {
  count_hit(ctx);
  handshake_enter(ssl);
  return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_handshake_exit) {
  count_return_hit();
  handshake_exit();
  return 0;
}

/* ---- key-log hooks (keys mode): one hit per secret per handshake, nothing per request ---- */

static __always_inline struct l7tap_secret_event* secret_begin(__u64 pid_tgid, __u8 hook) {
  struct l7tap_secret_event* ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    count(L7TAP_CNT_RINGBUF_FULL, 1);
    return NULL;
  }
  fill_header(&ev->hdr, L7TAP_EV_TLS_SECRET, pid_tgid);
  ev->tgid = pid_tgid >> 32;
  ev->hook = hook;
  ev->has_random = 0;
  ev->secret_len = 0;
  ev->pad = 0;
  ev->ssl = 0;
  return ev;
}

/* Copies the secret and sends the event (discarded when a read fails: counted). */
static __always_inline void secret_finish(struct l7tap_secret_event* ev, const void* secret, __u64 len,
                                          bool read_ok) {
  if (len == 0 || len > L7TAP_TLS_SECRET_MAX) read_ok = false;
  barrier_var(len);
  len &= L7TAP_TLS_SECRET_MAX * 2 - 1;
  if (read_ok && len <= L7TAP_TLS_SECRET_MAX && bpf_probe_read_user(ev->secret, len, secret)) read_ok = false;
  if (!read_ok) {
    __builtin_memset(ev->secret, 0, sizeof(ev->secret));
    bpf_ringbuf_discard(ev, 0);
    count(L7TAP_CNT_TLS_SECRET_UNREADABLE, 1);
    return;
  }
  ev->secret_len = len;
  bpf_ringbuf_submit(ev, 0);
  count(L7TAP_CNT_TLS_SECRETS, 1);
}

/* OpenSSL nss_keylog_int(label, ssl, client_random, random_len, secret, secret_len): also called with label
 * "RSA" and an encrypted premaster as parameter 1 (ignored by the agent: its label is no secret it uses). */
SEC("uprobe")
int keylog_nss(struct pt_regs* ctx) {
  /* Six arguments: more than BPF_KPROBE takes here. */
  const char* label = (const char*)ctx->di;
  void* ssl = (void*)ctx->si;
  const void* random = (const void*)ctx->dx;
  __u64 random_len = ctx->cx;
  const void* secret = (const void*)ctx->r8;
  __u64 secret_len = ctx->r9;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  count_hit(ctx);
  if (!traced(pid_tgid)) return 0;
  struct l7tap_secret_event* ev = secret_begin(pid_tgid, L7TAP_HOOK_NSS_KEYLOG);
  if (!ev) return 0;
  ev->ssl = (__u64)ssl;
  bool ok = bpf_probe_read_user_str(ev->label, sizeof(ev->label), label) > 0;
  if (random_len == L7TAP_TLS_RANDOM_LEN) {
    ok = ok && !bpf_probe_read_user(ev->client_random, L7TAP_TLS_RANDOM_LEN, random);
    ev->has_random = 1;
  } else {
    __builtin_memset(ev->client_random, 0, sizeof(ev->client_random));
  }
  secret_finish(ev, secret, secret_len, ok);
  return 0;
}

/* OpenSSL ssl_log_secret(ssl, label, secret, secret_len), where nss_keylog_int is inlined into it (node): the
 * agent pairs these by (process, ssl) with the connection whose records they decrypt. */
SEC("uprobe")
int BPF_KPROBE(keylog_ssl, void* ssl, const char* label, const void* secret, __u64 secret_len) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  count_hit(ctx);
  if (!traced(pid_tgid)) return 0;
  struct l7tap_secret_event* ev = secret_begin(pid_tgid, L7TAP_HOOK_SSL_LOG_SECRET);
  if (!ev) return 0;
  ev->ssl = (__u64)ssl;
  __builtin_memset(ev->client_random, 0, sizeof(ev->client_random));
  bool ok = bpf_probe_read_user_str(ev->label, sizeof(ev->label), label) > 0;
  secret_finish(ev, secret, secret_len, ok);
  return 0;
}
