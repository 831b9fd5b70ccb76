// `probe_cost_loop FUNCTION N`: calls FUNCTION (one of probe_cost_loop.S's f_*, or getppid) N times and
// prints the mean ns per call (CLOCK_MONOTONIC) as a single number. benchmarks/probe_cost.py runs it with
// and without a probe on the function to get the per-hit cost of the probe.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void f_nop(void);
void f_nop5(void);
void f_push(void);
void f_jmp(void);
void f_jcc(void);
void f_call(void);
void f_sub(void);
void f_lea(void);
void f_mov(void);
void f_ret(void);

static const struct {
  const char* name;
  void (*fn)(void);
} kFunctions[] = {
    {"f_nop", f_nop},   {"f_nop5", f_nop5}, {"f_push", f_push}, {"f_jmp", f_jmp}, {"f_jcc", f_jcc},
    {"f_call", f_call}, {"f_sub", f_sub},   {"f_lea", f_lea},   {"f_mov", f_mov}, {"f_ret", f_ret},
};

static long long now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// After the kernel rewrote a probed 5-byte nop into a call to its trampoline (uprobe syscall instead of
// int3), the process has this mapping; the script reports the row as optimized then.
static void report_uprobe_trampoline(void) {
  FILE* maps = fopen("/proc/self/maps", "r");
  if (maps == NULL) return;
  char line[512];
  while (fgets(line, sizeof(line), maps) != NULL) {
    if (strstr(line, "[uprobes-trampoline]") != NULL) {
      fputs("uprobes-trampoline\n", stderr);
      break;
    }
  }
  fclose(maps);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s FUNCTION N\n", argv[0]);
    return 2;
  }
  char* end = NULL;
  long long n = strtoll(argv[2], &end, 10);
  if (*end != '\0' || n <= 0) {
    fprintf(stderr, "bad N: %s\n", argv[2]);
    return 2;
  }
  void (*fn)(void) = NULL;  // stays NULL for getppid
  if (strcmp(argv[1], "getppid") != 0) {
    for (size_t i = 0; i < sizeof(kFunctions) / sizeof(kFunctions[0]); i++) {
      if (strcmp(argv[1], kFunctions[i].name) == 0) fn = kFunctions[i].fn;
    }
    if (fn == NULL) {
      fprintf(stderr, "unknown function: %s\n", argv[1]);
      return 2;
    }
  }
  long long cpu_start = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  long long start = now_ns(CLOCK_MONOTONIC);
  if (fn == NULL) {
    for (long long i = 0; i < n; i++) (void)getppid();  // glibc makes the syscall every time
  } else {
    for (long long i = 0; i < n; i++) fn();
  }
  long long stop = now_ns(CLOCK_MONOTONIC);
  long long cpu_stop = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  printf("%.3f\n", (double)(stop - start) / (double)n);
  // CPU time (user + kernel, traps included) over wall time: below 1 the loop was preempted, which
  // inflates the wall-clock number; the script re-runs such runs.
  fprintf(stderr, "cpu-share %.3f\n", (double)(cpu_stop - cpu_start) / (double)(stop - start));
  report_uprobe_trampoline();
  return 0;
}
