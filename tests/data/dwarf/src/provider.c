/* Provider: exports test:dwarf/calc@0.1.0 with hand-written canonical ABI (numbers only). */
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name("test:dwarf/calc@0.1.0#" name)))

struct state {
  uint32_t a, b, c, d;
};

static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static void round_step(struct state *s, uint32_t k) {
  s->a += s->b ^ k;
  s->d = rotl(s->d ^ s->a, 16);
  s->c += s->d;
  s->b = rotl(s->b ^ s->c, 12);
}

EXPORT("fib")
uint64_t calc_fib(uint32_t n) {
  uint64_t a = 0, b = 1;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

EXPORT("collatz")
uint32_t calc_collatz(uint64_t n) {
  uint32_t steps = 0;
  while (n > 1) {
    if (n % 2 == 0)
      n = n / 2;
    else
      n = 3 * n + 1;
    steps++;
  }
  return steps;
}

EXPORT("checked-div")
int32_t calc_checked_div(int32_t a, int32_t b) {
  if (b == 0)
    __builtin_trap(); /* the trap the backtrace test looks for */
  return a / b;
}

EXPORT("digest")
uint32_t calc_digest(uint32_t seed, uint32_t rounds) {
  struct state s = {seed, seed ^ 0x9e3779b9u, seed + 0x7f4a7c15u, ~seed};
  for (uint32_t r = 0; r < rounds; r++) {
    round_step(&s, r);
    switch (r & 3) {
    case 0: s.a ^= s.c; break;
    case 1: s.b += s.d; break;
    case 2: s.c = rotl(s.c, 7); break;
    default: s.d -= s.a; break;
    }
  }
  return s.a ^ s.b ^ s.c ^ s.d;
}
