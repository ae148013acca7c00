;; bench case "list-record": caller -> callee  f: func(xs: list<point>) -> u64
;;   record point { x: u32, y: u64, tag: u8 }        (canonical ABI: size 24, align 8)
;; The caller keeps 16 points (384 bytes) in ITS memory and passes (ptr, len); the runtime /
;; adapter copies them into the CALLEE's memory via its cabi_realloc (align 8). The callee
;; frees them (bump reset) before returning.
;; run(n):  acc = 0
;;          for i in 0..n: xs[i%16].x = i; acc += f(xs)                     (acc: u64, wrapping)
;;          f(xs) = sum over k of (x_k * 3 + y_k + tag_k) + len(xs) << 40   (u64, wrapping)
(component
  ;; ------------------------------------------------------------------ callee
  (component $callee
    (type $point' (record (field "x" u32) (field "y" u64) (field "tag" u8)))
    (export $point "point" (type $point'))
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
      (func (export "f") (param $p i32) (param $len i32) (result i64)
        (local $i i32) (local $e i32) (local $s i64)
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
            (local.set $e (i32.add (local.get $p) (i32.mul (local.get $i) (i32.const 24))))
            (local.set $s (i64.add (local.get $s)
              (i64.add
                (i64.add (i64.mul (i64.load32_u (local.get $e)) (i64.const 3))
                         (i64.load offset=8 (local.get $e)))
                (i64.load8_u offset=16 (local.get $e)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (global.set $bump (i32.const 4096))          ;; free the argument
        (i64.add (local.get $s) (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 40)))))
    (core instance $i (instantiate $m))
    (alias core export $i "memory" (core memory $mem))
    (alias core export $i "cabi_realloc" (core func $realloc))
    (func $f (param "xs" (list $point)) (result u64)
      (canon lift (core func $i "f") (memory (core memory $mem)) (realloc (core func $realloc))))
    (instance $api (export "point" (type $point)) (export "f" (func $f)))
    (export "bench:records/api" (instance $api)))

  ;; ------------------------------------------------------------------ caller
  (component $caller
    (import "bench:records/api" (instance $api
      (type $p (record (field "x" u32) (field "y" u64) (field "tag" u8)))
      (export "point" (type $point (eq $p)))
      (export "f" (func (param "xs" (list $point)) (result u64)))))
    ;; memory lives in a tiny module instantiated first (breaks the lower/instantiate cycle)
    (core module $libc (memory (export "memory") 1))
    (core instance $libc-i (instantiate $libc))
    (alias core export $libc-i "memory" (core memory $mem))
    (core func $f (canon lower (func $api "f") (memory (core memory $mem))))
    (core instance $env (export "f" (func $f)))
    (core module $m
      (import "libc" "memory" (memory 1))
      (import "env" "f" (func $f (param i32 i32) (result i64)))
      (func (export "run") (param $n i32) (result i64)
        (local $i i32) (local $k i32) (local $acc i64)
        ;; 16 points at 1024: x = k, y = k * 0x1_0000_0001, tag = k + 100
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $k) (i32.const 16)))
            (i32.store (i32.add (i32.const 1024) (i32.mul (local.get $k) (i32.const 24))) (local.get $k))
            (i64.store offset=8 (i32.add (i32.const 1024) (i32.mul (local.get $k) (i32.const 24)))
              (i64.mul (i64.extend_i32_u (local.get $k)) (i64.const 0x100000001)))
            (i32.store8 offset=16 (i32.add (i32.const 1024) (i32.mul (local.get $k) (i32.const 24)))
              (i32.add (local.get $k) (i32.const 100)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $l)))
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (i32.store (i32.add (i32.const 1024)
                                (i32.mul (i32.and (local.get $i) (i32.const 15)) (i32.const 24)))
                       (local.get $i))
            (local.set $acc (i64.add (local.get $acc) (call $f (i32.const 1024) (i32.const 16))))
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
    (with "bench:records/api" (instance $callee-i "bench:records/api"))))
  (export "run" (func $caller-i "run")))
