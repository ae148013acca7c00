;; bench case "string-ascii-utf8": caller (UTF-16) -> callee (UTF-8)  f: func(s: string) -> u32
;; string-ascii-utf16 the other way: every call transcodes the caller's 100 ASCII code units of
;; UTF-16 into 100 bytes of UTF-8 in the CALLEE's memory (cabi_realloc, align 1; freed by the
;; callee), where an adapter can narrow 16 units per step.
;; run(n):  buf = S; acc = 0
;;          for i in 0..n: buf[0] = 'a' + i%26; acc += f(buf)              (acc: u64)
;;          f(s) = (bytes(s) << 16) + sum of the UTF-8 bytes                (u32, wrapping)
(component
  ;; ------------------------------------------------------------------ callee
  (component $callee
    (core module $m
      (memory (export "memory") 1)
      (global $bump (mut i32) (i32.const 4096))
      ;; bump allocator; grows/shrinks the last allocation in place
      (func $realloc (export "cabi_realloc")
            (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
        (local $p i32)
        (if (i32.and (i32.ne (local.get $old) (i32.const 0))
                     (i32.eq (i32.add (local.get $old) (local.get $old_size)) (global.get $bump)))
          (then
            (global.set $bump (i32.add (local.get $old) (local.get $new_size)))
            (return (local.get $old))))
        (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                               (i32.sub (i32.const 0) (local.get $align))))
        (global.set $bump (i32.add (local.get $p) (local.get $new_size)))
        (if (local.get $old)
          (then (memory.copy (local.get $p) (local.get $old)
                  (select (local.get $old_size) (local.get $new_size)
                          (i32.lt_u (local.get $old_size) (local.get $new_size))))))
        (local.get $p))
      (func (export "f") (param $p i32) (param $len i32) (result i32)   ;; $len = UTF-8 bytes
        (local $i i32) (local $s i32)
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
            (local.set $s (i32.add (local.get $s)
                            (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (global.set $bump (i32.const 4096))          ;; free the argument
        (i32.add (i32.shl (local.get $len) (i32.const 16)) (local.get $s))))
    (core instance $i (instantiate $m))
    (alias core export $i "memory" (core memory $mem))
    (alias core export $i "cabi_realloc" (core func $realloc))
    (func $f (param "s" string) (result u32)
      (canon lift (core func $i "f") (memory (core memory $mem)) (realloc (core func $realloc))))
    (instance $api (export "f" (func $f)))
    (export "bench:ascii8/api" (instance $api)))

  ;; ------------------------------------------------------------------ caller
  (component $caller
    (import "bench:ascii8/api" (instance $api
      (export "f" (func (param "s" string) (result u32)))))
    ;; memory lives in a tiny module instantiated first (breaks the lower/instantiate cycle)
    (core module $libc (memory (export "memory") 1))
    (core instance $libc-i (instantiate $libc))
    (alias core export $libc-i "memory" (core memory $mem))
    (core func $f (canon lower (func $api "f") (memory (core memory $mem)) string-encoding=utf16))
    (core instance $env (export "f" (func $f)))
    (core module $m
      (import "libc" "memory" (memory 1))
      (import "env" "f" (func $f (param i32 i32) (result i32)))
      ;; 100 ASCII code units of UTF-16 (200 bytes)
      (data (i32.const 1024) "T\00h\00e\00 \00q\00u\00i\00c\00k\00 \00b\00r\00o\00w\00n\00 \00f\00o\00x\00 \00j\00u\00m\00p\00s\00 \00o\00v\00e\00r\00 \00t\00h\00e\00 \00l\00a\00z\00y\00 \00d\00o\00g\00;\00 \00p\00a\00c\00k\00 \00m\00y\00 \00b\00o\00x\00 \00w\00i\00t\00h\00 \00f\00i\00v\00e\00 \00d\00o\00z\00e\00n\00 \00l\00i\00q\00u\00o\00r\00 \00j\00u\00g\00s\00:\00 \000\001\002\003\004\005\006\007\008\009\00 \00o\00k\00x\00")
      (func (export "run") (param $n i32) (result i64)
        (local $i i32) (local $acc i64)
        (memory.copy (i32.const 2048) (i32.const 1024) (i32.const 200))
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (i32.store8 (i32.const 2048)
              (i32.add (i32.const 97) (i32.rem_u (local.get $i) (i32.const 26))))
            (local.set $acc (i64.add (local.get $acc)
              (i64.extend_i32_u (call $f (i32.const 2048) (i32.const 100)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $acc)))
    (core instance $i (instantiate $m
      (with "libc" (instance $libc-i)) (with "env" (instance $env))))
    (func (export "run") (param "n" u32) (result u64)
      (canon lift (core func $i "run"))))

  ;; ------------------------------------------------------------------ wiring
  (instance $callee-i (instantiate $callee))
  (instance $caller-i (instantiate $caller
    (with "bench:ascii8/api" (instance $callee-i "bench:ascii8/api"))))
  (export "run" (func $caller-i "run")))
