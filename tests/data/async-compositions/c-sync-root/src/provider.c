/* C provider: exports corpus:casync/jobs as `canon lift async (callback ...)` functions.
   Each export starts a task; the core function returns a callback code (EXIT, or YIELD to
   be called back later); the per-task state lives behind context slot 0. */
#include "common.h"

#define IFACE "corpus:casync/jobs@0.1.0"
#define LIFT(fn) EXPORT("[async-lift]" IFACE "#" fn)
#define CALLBACK(fn) EXPORT("[callback][async-lift]" IFACE "#" fn)
#define TASK_RETURN(fn) IMPORT("[export]" IFACE, "[task-return]" fn)

IMPORT("$root", "[context-get-0]") void *ctx_get(void);
IMPORT("$root", "[context-set-0]") void ctx_set(void *);

TASK_RETURN("slow-sum") void return_slow_sum(uint64_t);
TASK_RETURN("greet") void return_greet(const char *, size_t);
TASK_RETURN("countdown") void return_countdown(const uint32_t *, size_t);
TASK_RETURN("ticks") void return_ticks(uint32_t);
TASK_RETURN("fail-after") void return_fail_after(uint32_t);

enum { EXIT = 0, YIELD = 1 };
static uint32_t ticks; /* every entry into this component's async code */

/* ---- slow-sum: steps + 1 slices, a yield between slices */
typedef struct { uint32_t *xs; size_t n, i; uint32_t left, slice; uint64_t acc; } sum_t;

static int32_t sum_run(sum_t *s) {
  ticks++;
  size_t end = s->left ? s->i + s->slice : s->n;
  if (end > s->n) end = s->n;
  for (; s->i < end; s->i++) s->acc += s->xs[s->i];
  if (s->left) { s->left--; return YIELD; }
  return_slow_sum(s->acc);
  free(s->xs); free(s); ctx_set(0);
  return EXIT;
}

LIFT("slow-sum") int32_t slow_sum(uint32_t *xs, size_t n, uint32_t steps) {
  sum_t *s = calloc(1, sizeof *s);
  s->xs = xs; s->n = n; s->left = steps;
  s->slice = steps ? (uint32_t)(n / (steps + 1)) : (uint32_t)n;
  ctx_set(s);
  return sum_run(s);
}
CALLBACK("slow-sum") int32_t slow_sum_cb(uint32_t ev, uint32_t a, uint32_t b) {
  (void)ev; (void)a; (void)b;
  return sum_run(ctx_get());
}

/* ---- greet: one yield, then the string */
typedef struct { char *name; size_t len; int yielded; char *out; } greet_t;

LIFT("greet") int32_t greet(char *name, size_t len) {
  greet_t *g = calloc(1, sizeof *g);
  g->name = name; g->len = len;
  ctx_set(g);
  ticks++;
  return YIELD;
}
CALLBACK("greet") int32_t greet_cb(uint32_t ev, uint32_t a, uint32_t b) {
  (void)ev; (void)a; (void)b;
  greet_t *g = ctx_get();
  ticks++;
  size_t n = g->len + 9;
  char *out = malloc(n);
  memcpy(out, "hello, ", 7); memcpy(out + 7, g->name, g->len); out[7 + g->len] = '!';
  n = g->len + 8;
  return_greet(out, n); /* the caller copies during task.return: free right after */
  free(out); free(g->name); free(g); ctx_set(0);
  return EXIT;
}

/* ---- countdown: one element per yield */
typedef struct { uint32_t n, k; uint32_t *out; } count_t;

static int32_t count_run(count_t *c) {
  ticks++;
  if (c->k < c->n) { c->out[c->k] = c->n - c->k; c->k++; return YIELD; }
  return_countdown(c->out, c->n);
  free(c->out); free(c); ctx_set(0);
  return EXIT;
}
LIFT("countdown") int32_t countdown(uint32_t n) {
  count_t *c = calloc(1, sizeof *c);
  c->n = n; c->out = malloc(n ? n * 4 : 4);
  ctx_set(c);
  return count_run(c);
}
CALLBACK("countdown") int32_t countdown_cb(uint32_t ev, uint32_t a, uint32_t b) {
  (void)ev; (void)a; (void)b;
  return count_run(ctx_get());
}

/* ---- ticks: returns at once */
LIFT("ticks") int32_t get_ticks(void) {
  ticks++;
  return_ticks(ticks);
  return EXIT;
}
CALLBACK("ticks") int32_t get_ticks_cb(uint32_t ev, uint32_t a, uint32_t b) {
  (void)ev; (void)a; (void)b;
  __builtin_trap(); /* never called back: it never yields */
}

/* ---- fail-after: yields, then traps inside the callback */
typedef struct { uint32_t steps, left, code; } fail_t;

static int32_t fail_run(fail_t *f) {
  ticks++;
  if (f->left) { f->left--; return YIELD; }
  if (f->code) __builtin_trap();
  return_fail_after(f->steps);
  free(f); ctx_set(0);
  return EXIT;
}
LIFT("fail-after") int32_t fail_after(uint32_t steps, uint32_t code) {
  fail_t *f = calloc(1, sizeof *f);
  f->steps = f->left = steps; f->code = code;
  ctx_set(f);
  return fail_run(f);
}
CALLBACK("fail-after") int32_t fail_after_cb(uint32_t ev, uint32_t a, uint32_t b) {
  (void)ev; (void)a; (void)b;
  return fail_run(ctx_get());
}
