// A stand-in TLS library for the symbolizer tests: a real shared object, built at test time, that defines
// SSL_read/SSL_write and carries one library's version text in .rodata. L7TAP_STUB picks the library.
#define L7TAP_STUB_OPENSSL_111 1
#define L7TAP_STUB_BORINGSSL 2
#define L7TAP_STUB_LIBRESSL 3
#define L7TAP_STUB_VERSIONED 4               // SSL_read in two symbol versions; OpenSSL 3 text
#define L7TAP_STUB_OPENSSL3_CORE_ADJACENT 5  // no version text; "openssl-version" key with its value after it
#define L7TAP_STUB_OPENSSL3_CORE_LONE 6      // no version text; the key, and the value stored elsewhere

#if L7TAP_STUB == L7TAP_STUB_OPENSSL_111
#define L7TAP_VERSION_TEXT "OpenSSL 1.1.1w  11 Sep 2023"
#elif L7TAP_STUB == L7TAP_STUB_BORINGSSL
#define L7TAP_VERSION_TEXT "OpenSSL 1.1.1 (compatible; BoringSSL)"
#elif L7TAP_STUB == L7TAP_STUB_LIBRESSL
#define L7TAP_VERSION_TEXT "LibreSSL 3.8.2"
#elif L7TAP_STUB == L7TAP_STUB_VERSIONED
#define L7TAP_VERSION_TEXT "OpenSSL 3.9.1 1 Jan 2030"
#elif L7TAP_STUB == L7TAP_STUB_OPENSSL3_CORE_ADJACENT
// As a static OpenSSL 3 without OpenSSL_version() lays out provider_core.c's strings. Leading NULs make each
// a whole string wherever the array lands.
#define L7TAP_VERSION_TEXT \
  "\0openssl-version\0"    \
  "3.6.1\0provider-name"
__attribute__((used)) const char l7tap_stub_other_version[] =
    "\0"
    "3.2.0";  // the key's neighbour wins
#elif L7TAP_STUB == L7TAP_STUB_OPENSSL3_CORE_LONE
#define L7TAP_VERSION_TEXT "\0openssl-version\0provider-name"
__attribute__((used)) const char l7tap_stub_version_value[] =
    "\0"
    "3.7.0";
#else
#error "define L7TAP_STUB"
#endif

__attribute__((used)) const char l7tap_stub_version_text[] = L7TAP_VERSION_TEXT;
// Strings that start like a version but are not one; the flavour detection must skip them.
__attribute__((used)) const char l7tap_stub_decoys[][32] = {"OpenSSL default", "OpenSSL 3 provider"};

int SSL_write(void* ssl, const void* buf, int num) { return ssl != 0 && buf != 0 ? num : -1; }

#if L7TAP_STUB == L7TAP_STUB_VERSIONED
// SSL_read@OLD (hidden) and SSL_read@@NEW (default): lookups by the bare name must find the default one.
int ssl_read_old(void* ssl, void* buf, int num) { return ssl != 0 && buf != 0 ? num - 1 : -1; }
int ssl_read_new(void* ssl, void* buf, int num) { return ssl != 0 && buf != 0 ? num : -1; }
__asm__(".symver ssl_read_old, SSL_read@L7TAP_OLD");
__asm__(".symver ssl_read_new, SSL_read@@L7TAP_NEW");
#else
int SSL_read(void* ssl, void* buf, int num) { return ssl != 0 && buf != 0 ? num : -1; }
#endif
