/* Consumer: imports test:dwarf/calc@0.1.0, exports test:dwarf/app@0.1.0 (numbers only). */
#include <stdint.h>

#define IMPORT(name) \
  __attribute__((import_module("test:dwarf/calc@0.1.0"), import_name(name)))
#define EXPORT(name) __attribute__((export_name("test:dwarf/app@0.1.0#" name)))

IMPORT("fib") uint64_t calc_fib(uint32_t n);
IMPORT("collatz") uint32_t calc_collatz(uint64_t n);
IMPORT("checked-div") int32_t calc_checked_div(int32_t a, int32_t b);
IMPORT("digest") uint32_t calc_digest(uint32_t seed, uint32_t rounds);

static uint64_t table[16];

static uint64_t combine(uint64_t acc, uint64_t v, uint32_t i) {
  acc ^= v + 0x9e3779b97f4a7c15ull + (acc << 6) + (acc >> 2);
  table[i & 15] = acc;
  return acc;
}

EXPORT("run")
uint64_t app_run(uint32_t n) {
  uint64_t acc = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t f = calc_fib(i % 40);
    uint32_t c = calc_collatz(f + 1);
    acc = combine(acc, f, i);
    acc = combine(acc, c, i + 1);
  }
  uint64_t sum = 0;
  for (int i = 0; i < 16; i++)
    sum += table[i];
  return acc ^ sum;
}

EXPORT("divide")
int32_t app_divide(int32_t a, int32_t b) {
  int32_t q = calc_checked_div(a, b);
  return q + 0;
}

EXPORT("mix")
uint32_t app_mix(uint32_t seed) {
  uint32_t h = seed;
  for (uint32_t k = 1; k <= 4; k++)
    h = calc_digest(h, k * 3) ^ (h >> 3);
  return h;
}
