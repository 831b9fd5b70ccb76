#pragma once
// A function that only sets up argument registers and tail-jumps to another, such as OpenSSL's
// ssl_log_secret: `return nss_keylog_int(label, ssl, ssl->s3.client_random, 32, secret, secret_len)` compiles
// to register moves, lea, moves of constants (and in 1.1.1 a load of ssl->s3) ending in a direct jmp. A probe
// on the target then sees every call of the thunk, with the target's arguments.
#include <cstdint>
#include <map>
#include <optional>

#include "common/result.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

struct RegisterThunk {
  uint64_t jump = 0;    // the tail jump's address
  uint64_t target = 0;  // and its target, in executable file bytes
  // SysV integer argument (0: rdi ... 5: r9) -> the constant the thunk leaves in it.
  std::map<int, int64_t> constant_arguments;
};

// The thunk starting at `vaddr`: at most `max_instructions` of endbr64, nop, mov to a register (from a
// register, a constant or memory), movzx/movsx, lea, `xor r, r`, then a direct jmp. nullopt for anything else
// (a store, push, call, compare, branch: a function that decides or has effects of its own). Errors: not
// x86-64, Capstone failed to start, no code at `vaddr`.
Result<std::optional<RegisterThunk>> FindRegisterThunk(const ElfFile& elf, uint64_t vaddr,
                                                       int max_instructions = 16);

}  // namespace l7tap::symbolizer
