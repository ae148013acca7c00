;; floor of "scalar": the caller calls the callee's core function directly (no adapter).
;; Same callee, caller and checksum as ../../../shared/corpus/bench/scalar.wat.
(component
  (core module $m
    (func $f (param $a i32) (param $b i32) (result i32)
      (i32.add (i32.mul (local.get $a) (i32.const 31))
               (i32.xor (local.get $b) (i32.const 0x5bd1e995))))
    (func (export "run") (param $n i32) (result i64)
      (local $i i32) (local $r i32) (local $acc i64)
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (local.set $r (call $f (local.get $i) (local.get $r)))
          (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $r))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
      (local.get $acc)))
  (core instance $i (instantiate $m))
  (func (export "run") (param "n" u32) (result u64) (canon lift (core func $i "run"))))
