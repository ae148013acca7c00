/* C root: synchronous exports (corpus:casync/report) that call the provider's async functions
   through synchronous lowers, so each call blocks until the provider's task returns.
   Logs with printf (WASI stdout, recorded by the harness); built with -DQUIET it logs nothing
   and imports no WASI at all (the composition is then async and nothing else). */
#include "common.h"
#ifdef QUIET
#define LOG(...) ((void)0)
#else
#include <stdio.h>
#define LOG(...) (printf(__VA_ARGS__), fflush(stdout))
#endif

#define IM "corpus:casync/jobs@0.1.0"
#define EX "corpus:casync/report@0.1.0#"

IMPORT(IM, "slow-sum") uint64_t jobs_slow_sum(const uint32_t *xs, size_t n, uint32_t steps);
IMPORT(IM, "greet") void jobs_greet(const char *s, size_t n, uint32_t *ret);
IMPORT(IM, "countdown") void jobs_countdown(uint32_t n, uint32_t *ret);
IMPORT(IM, "ticks") uint32_t jobs_ticks(void);
IMPORT(IM, "fail-after") uint32_t jobs_fail_after(uint32_t steps, uint32_t code);

static _Alignas(8) uint32_t RET[2];

EXPORT(EX "sum") uint64_t report_sum(uint32_t *xs, size_t n, uint32_t steps) {
  uint64_t s = jobs_slow_sum(xs, n, steps);
  LOG("[root] sum of %zu values in %u steps = %llu\n", n, steps + 1, (unsigned long long)s);
  free(xs);
  return s;
}

/* the same call from a sync-typed export: the runtime traps if the callee blocks */
EXPORT(EX "sync-sum") uint64_t report_sync_sum(uint32_t *xs, size_t n, uint32_t steps) {
  return report_sum(xs, n, steps);
}

EXPORT(EX "hello") uint32_t *report_hello(char *name, size_t len) {
  uint32_t r[2];
  jobs_greet(name, len, r);
  LOG("[root] greeted %.*s (%u bytes back)\n", (int)len, name, r[1]);
  free(name);
  RET[0] = r[0]; RET[1] = r[1];
  return RET;
}
EXPORT("cabi_post_" EX "hello") void post_hello(uint32_t *ret) { free((void *)(uintptr_t)ret[0]); }

EXPORT(EX "countdown-total") uint64_t report_countdown_total(uint32_t n) {
  uint32_t r[2];
  jobs_countdown(n, r);
  const uint32_t *v = (const uint32_t *)(uintptr_t)r[0];
  uint64_t t = 0;
  for (uint32_t i = 0; i < r[1]; i++) t = t * 3 + v[i]; /* order-sensitive */
  free((void *)v);
  return t;
}

EXPORT(EX "ticks") uint32_t report_ticks(void) { return jobs_ticks(); }

EXPORT(EX "crash") uint32_t report_crash(uint32_t steps, uint32_t code) {
  LOG("[root] crash(%u, %u)\n", steps, code);
  return jobs_fail_after(steps, code);
}
