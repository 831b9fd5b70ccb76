#pragma once
// Scratch files of the endpoint's unit tests: a directory of the build tree (TEST_TMPDIR), certificates made
// by the openssl command, bcrypt hashes made by libxcrypt.
#include <crypt.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace l7tap::agent::testing {

inline std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? std::string(dir) : std::string("/tmp/");
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A self-signed certificate for localhost and 127.0.0.1 (NAME.crt, NAME.key in TestDir()); true on success.
inline bool MakeCert(const std::string& name) {
  const std::string base = TestDir() + name;
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
      base + ".key' -out '" + base + ".crt' 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

// A bcrypt hash of `password` with libxcrypt (cost 4: the cheapest, tests stay fast).
inline std::string Bcrypt(const std::string& password, const char* prefix = "$2y$", unsigned long cost = 4) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn(prefix, cost, nullptr, 0, salt, sizeof(salt))) return "";
  crypt_data data{};
  const char* h = crypt_r(password.c_str(), salt, &data);
  return h && h[0] == '$' ? std::string(h) : std::string();
}

}  // namespace l7tap::agent::testing
