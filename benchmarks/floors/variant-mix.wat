;; floor of "variant-mix": the caller calls the callee's core function directly with its own flat
;; values (no discriminant checks, no payload normalisation), then the 24-byte result is copied from
;; the callee's return area into the caller's as three i64 loads and stores. No alignment or bounds checks.
;; Same callee, caller and checksum as ../cases/variant-mix.wat.
(component
  (core module $m
    (memory $callee 1)
    (memory $caller 1)
    (func $f
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
        (i64.store $callee (i32.const 64) (i64.const 0))
        (i64.store $callee (i32.const 72) (i64.const 0))
        (i64.store $callee (i32.const 80) (i64.const 0))
        (if (i32.and (local.get $h) (i32.const 1))
          (then (i32.store8 $callee (i32.const 72) (i32.const 1)) (i32.store $callee (i32.const 76) (local.get $h)))
          (else
            (if (i32.eqz (i32.and (local.get $h) (i32.const 2)))
              (then
                (i32.store8 $callee (i32.const 64) (i32.const 1))
                (i32.store8 $callee (i32.const 72) (i32.const 1))
                (i64.store $callee (i32.const 80) (i64.shl (i64.extend_i32_u (local.get $h)) (i64.const 1)))))))
        (i32.const 64))
    (func (export "run") (param $n i32) (result i64)
        (local $i i32) (local $acc i64) (local $c i64) (local $m3 i32) (local $r i32)
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $m3 (i32.rem_u (local.get $i) (i32.const 3)))
            (local.set $r (call $f
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
              ))
            (i64.store $caller (i32.const 512) (i64.load $callee (local.get $r)))
            (i64.store $caller (i32.const 520) (i64.load $callee offset=8 (local.get $r)))
            (i64.store $caller (i32.const 528) (i64.load $callee offset=16 (local.get $r)))
            (if (i32.eqz (i32.load8_u $caller (i32.const 512)))
              (then
                (local.set $c (if (result i64) (i32.load8_u $caller (i32.const 520))
                  (then (i64.add (i64.load32_u $caller (i32.const 524)) (i64.const 1)))
                  (else (i64.const 2)))))
              (else
                (local.set $c
                  (block $r (result i64)
                    (block $cc (block $cb (block $ca
                      (br_table $ca $cb $cc (i32.load8_u $caller (i32.const 520))))
                      (br $r (i64.add (i64.load32_u $caller (i32.const 528)) (i64.const 3))))
                      (br $r (i64.add (i64.load $caller (i32.const 528)) (i64.const 4))))
                    (i64.const 5)))))
            (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31)) (local.get $c)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $acc)))
  (core instance $i (instantiate $m))
  (func (export "run") (param "n" u32) (result u64) (canon lift (core func $i "run"))))
