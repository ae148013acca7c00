/* Hand-written canonical-ABI glue (no wit-bindgen here): the same conventions as
   ../shared/corpus/components/c-compose-text, plus the async (callback) lift names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(mod, name) __attribute__((import_module(mod), import_name(name)))

EXPORT("cabi_realloc")
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  (void)old_size; (void)align;
  /* never hand out a dummy pointer: receivers free() what they get */
  void *p = realloc(old, new_size ? new_size : 1);
  if (!p) __builtin_trap();
  return p;
}
