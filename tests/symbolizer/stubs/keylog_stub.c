// A stand-in for OpenSSL's key-log code for the key-log hook tests: a real ELF file, built at test time,
// whose callers pass the NSS labels to ssl_log_secret as OpenSSL's do. L7TAP_KEYLOG picks the shape:
#define L7TAP_KEYLOG_THUNK 1     // ssl_log_secret tail-calls nss_keylog_int (as Debian's libssl.so.3)
#define L7TAP_KEYLOG_CHECKED 2   // ssl_log_secret checks for a callback first, nss_keylog_int inlined (node)
#define L7TAP_KEYLOG_DISAGREE 3  // the labels go to two different functions
#define L7TAP_KEYLOG_UNPASSED 4  // the labels are in .rodata but never passed in rsi
// Built -O2 (a thunk needs the sibling-call optimization). Internal functions are hidden and noipa: stripped,
// they have no symbol at all, and they keep the C calling convention (no clones with other arguments).

#include <stddef.h>

struct l7tap_ssl {
  void (*keylog)(const char* line);
  unsigned char client_random[32];
};

#define L7TAP_INTERNAL __attribute__((visibility("hidden"), noinline, noipa))

#if L7TAP_KEYLOG == L7TAP_KEYLOG_THUNK
L7TAP_INTERNAL int nss_keylog_int(const char* prefix, struct l7tap_ssl* ssl, const unsigned char* random,
                                  size_t random_len, const unsigned char* secret, size_t secret_len) {
  if (ssl->keylog == NULL) return 1;
  ssl->keylog(prefix);
  return random[0] + random_len + secret[0] + secret_len > 0;
}
L7TAP_INTERNAL int ssl_log_secret(struct l7tap_ssl* ssl, const char* label, const unsigned char* secret,
                                  size_t secret_len) {
  return nss_keylog_int(label, ssl, ssl->client_random, sizeof(ssl->client_random), secret, secret_len);
}
#define L7TAP_OTHER_LOG ssl_log_secret
#elif L7TAP_KEYLOG == L7TAP_KEYLOG_CHECKED || L7TAP_KEYLOG == L7TAP_KEYLOG_DISAGREE
L7TAP_INTERNAL int ssl_log_secret(struct l7tap_ssl* ssl, const char* label, const unsigned char* secret,
                                  size_t secret_len) {
  if (ssl->keylog == NULL) return 1;
  ssl->keylog(label);
  return ssl->client_random[0] + secret[0] + secret_len > 0;
}
#if L7TAP_KEYLOG == L7TAP_KEYLOG_DISAGREE
L7TAP_INTERNAL int other_log_secret(struct l7tap_ssl* ssl, const char* label, const unsigned char* secret,
                                    size_t secret_len) {
  if (ssl->keylog != NULL) ssl->keylog(label);
  return secret[0] + secret_len > 1;
}
#define L7TAP_OTHER_LOG other_log_secret
#else
#define L7TAP_OTHER_LOG ssl_log_secret
#endif
#elif L7TAP_KEYLOG == L7TAP_KEYLOG_UNPASSED
__attribute__((used)) const char* const l7tap_labels[] = {"CLIENT_RANDOM", "EXPORTER_SECRET"};
#else
#error "define L7TAP_KEYLOG"
#endif

#if L7TAP_KEYLOG != L7TAP_KEYLOG_UNPASSED
// As tls1_generate_master_secret and tls13_change_cipher_state: the label is a literal, the result is used
// (so the call is a call, not a tail jump).
int l7tap_master_secret(struct l7tap_ssl* ssl, const unsigned char* secret) {
  if (!ssl_log_secret(ssl, "CLIENT_RANDOM", secret, 48)) return -1;
  return 1;
}
int l7tap_exporter_secrets(struct l7tap_ssl* ssl, const unsigned char* secret) {
  if (!ssl_log_secret(ssl, "EXPORTER_SECRET", secret, 32)) return -1;
  if (!L7TAP_OTHER_LOG(ssl, "EARLY_EXPORTER_SECRET", secret, 32)) return -2;
  return 1;
}
#endif

#ifdef L7TAP_KEYLOG_MAIN
int main(void) {
  static struct l7tap_ssl ssl;
  static const unsigned char secret[48];
  return l7tap_master_secret(&ssl, secret) + l7tap_exporter_secrets(&ssl, secret) == 2 ? 0 : 1;
}
#endif
