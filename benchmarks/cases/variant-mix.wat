;; bench case "variant-mix": caller -> callee
;;   variant v { a(u32), b(u64), c }
;;   f: func(a: option<u32>, b: result<u64, u8>, c: v) -> result<option<u32>, v>
;; Parameters are flat (i32 i32 | i32 i64 | i32 i64); the result does not fit one flat value,
;; so the callee returns a pointer into ITS memory and the runtime / adapter copies the 24-byte
;; result (disc u8 @0; ok: option disc @8, u32 @12; err: v disc @8, u64 @16) into the
;; CALLER's return area (no realloc anywhere).
;; run(n):  acc = 0; for i in 0..n:
;;            a = none if i%3 == 0 else some(i)
;;            b = ok(i * 7) if i even else err(i & 0xff)
;;            c = [a(i), b(i << 33 | i), c][i % 3]
;;            r = f(a, b, c); acc = acc * 31 + checksum(r)                   (acc: u64, wrapping)
;;          f: h = (a ? a : 0xAAAA) + (b is ok ? lo32(b) : err * 3) + (c.a: x, c.b: hi32, c.c: 5)
;;             h odd -> ok(some(h)); h & 2 -> ok(none); else err(b(h as u64 << 1))
;;          checksum: ok(some(x)) -> x + 1; ok(none) -> 2; err(a(x)) -> x + 3; err(b(x)) -> x + 4;
;;                    err(c) -> 5
(component
  ;; ------------------------------------------------------------------ callee
  (component $callee
    (type $v' (variant (case "a" u32) (case "b" u64) (case "c")))
    (export $v "v" (type $v'))
    (core module $m
      (memory (export "memory") 1)
      (func (export "f")
            (param $ad i32) (param $av i32) (param $bd i32) (param $bv i64) (param $cd i32) (param $cv i64)
            (result i32)
        (local $h i32)
        (local.set $h (select (local.get $av) (i32.const 0xAAAA) (local.get $ad)))
        (local.set $h (i32.add (local.get $h)
          (if (result i32) (local.get $bd)
            (then (i32.mul (i32.wrap_i64 (local.get $bv)) (i32.const 3)))
            (else (i32.wrap_i64 (local.get $bv))))))
        (local.set $h (i32.add (local.get $h)
          (block $r (result i32)
            (block $cc (block $cb (block $ca
              (br_table $ca $cb $cc (local.get $cd)))
              (br $r (i32.wrap_i64 (local.get $cv))))
              (br $r (i32.wrap_i64 (i64.shr_u (local.get $cv) (i64.const 32)))))
            (i32.const 5))))
        (i64.store (i32.const 64) (i64.const 0))
        (i64.store (i32.const 72) (i64.const 0))
        (i64.store (i32.const 80) (i64.const 0))
        (if (i32.and (local.get $h) (i32.const 1))
          (then (i32.store8 (i32.const 72) (i32.const 1)) (i32.store (i32.const 76) (local.get $h)))
          (else
            (if (i32.eqz (i32.and (local.get $h) (i32.const 2)))
              (then
                (i32.store8 (i32.const 64) (i32.const 1))
                (i32.store8 (i32.const 72) (i32.const 1))
                (i64.store (i32.const 80) (i64.shl (i64.extend_i32_u (local.get $h)) (i64.const 1)))))))
        (i32.const 64)))
    (core instance $i (instantiate $m))
    (alias core export $i "memory" (core memory $mem))
    (func $f (param "a" (option u32)) (param "b" (result u64 (error u8))) (param "c" $v)
             (result (result (option u32) (error $v)))
      (canon lift (core func $i "f") (memory (core memory $mem))))
    (instance $api (export "v" (type $v)) (export "f" (func $f)))
    (export "bench:variants/api" (instance $api)))

  ;; ------------------------------------------------------------------ caller
  (component $caller
    (import "bench:variants/api" (instance $api
      (type $v' (variant (case "a" u32) (case "b" u64) (case "c")))
      (export "v" (type $v (eq $v')))
      (export "f" (func (param "a" (option u32)) (param "b" (result u64 (error u8))) (param "c" $v)
                        (result (result (option u32) (error $v)))))))
    (core module $libc (memory (export "memory") 1))
    (core instance $libc-i (instantiate $libc))
    (alias core export $libc-i "memory" (core memory $mem))
    (core func $f (canon lower (func $api "f") (memory (core memory $mem))))
    (core instance $env (export "f" (func $f)))
    (core module $m
      (import "libc" "memory" (memory 1))
      (import "env" "f" (func $f (param i32 i32 i32 i64 i32 i64 i32)))
      (func (export "run") (param $n i32) (result i64)
        (local $i i32) (local $acc i64) (local $c i64) (local $m3 i32)
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $m3 (i32.rem_u (local.get $i) (i32.const 3)))
            (call $f
              (i32.ne (local.get $m3) (i32.const 0)) (local.get $i)
              (i32.and (local.get $i) (i32.const 1))
              (select (i64.extend_i32_u (i32.and (local.get $i) (i32.const 0xff)))
                      (i64.mul (i64.extend_i32_u (local.get $i)) (i64.const 7))
                      (i32.and (local.get $i) (i32.const 1)))
              (local.get $m3)
              (select (i64.or (i64.shl (i64.extend_i32_u (local.get $i)) (i64.const 33))
                              (i64.extend_i32_u (local.get $i)))
                      (i64.extend_i32_u (local.get $i))
                      (i32.eq (local.get $m3) (i32.const 1)))
              (i32.const 512))
            (if (i32.eqz (i32.load8_u (i32.const 512)))
              (then
                (local.set $c (if (result i64) (i32.load8_u (i32.const 520))
                  (then (i64.add (i64.load32_u (i32.const 524)) (i64.const 1)))
                  (else (i64.const 2)))))
              (else
                (local.set $c
                  (block $r (result i64)
                    (block $cc (block $cb (block $ca
                      (br_table $ca $cb $cc (i32.load8_u (i32.const 520))))
                      (br $r (i64.add (i64.load32_u (i32.const 528)) (i64.const 3))))
                      (br $r (i64.add (i64.load (i32.const 528)) (i64.const 4))))
                    (i64.const 5)))))
            (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31)) (local.get $c)))
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
    (with "bench:variants/api" (instance $callee-i "bench:variants/api"))))
  (export "run" (func $caller-i "run")))
