;;! component_model_async = true
;; Named value types on a kept boundary: $A lifts `area` async with a record parameter (holding
;; an enum) and a variant result; $B calls it through a sync lower. Each cluster must name the
;; record, the enum and the variant it uses across the boundary (a function's type may only use
;; named ones), and the values must arrive intact both ways. $A's task raises and lowers its
;; backpressure first, and $B calls `thread.yield` in a root instance that also lifts an export
;; with a callback (`idle`: such a yield is not fused beside in-module tasks, which keeps the
;; boundary; without it the case fuses, see wast_async_tasks/named-types-sync-lower.wast).

(component
  (component $A
    (type $unit (enum "mm" "cm"))
    (export $unit2 "unit" (type $unit))
    (type $rect (record (field "w" u32) (field "h" u32) (field "unit" $unit2)))
    (export $rect2 "rect" (type $rect))
    (type $res (variant (case "small" u32) (case "big" u64) (case "none")))
    (export $res2 "res" (type $res))
    (core module $libc (memory (export "memory") 1))
    (core instance $libc (instantiate $libc))
    (core func $tr (canon task.return (result $res2) (memory (core memory $libc "memory"))))
    (core func $bpi (canon backpressure.inc))
    (core func $bpd (canon backpressure.dec))
    (core module $m
      (import "" "tr" (func $tr (param i32 i64)))
      (import "" "bpi" (func $bpi))
      (import "" "bpd" (func $bpd))
      (func (export "area") (param $w i32) (param $h i32) (param $u i32) (result i32)
        (local $a i64)
        (call $bpi)
        (call $bpd)
        (local.set $a (i64.mul (i64.mul (i64.extend_i32_u (local.get $w)) (i64.extend_i32_u (local.get $h)))
          (select (i64.const 100) (i64.const 1) (local.get $u))))
        (if (i64.eqz (local.get $a)) (then (call $tr (i32.const 2) (i64.const 0)) (return (i32.const 0))))
        (if (i64.lt_u (local.get $a) (i64.const 1000))
          (then (call $tr (i32.const 0) (local.get $a)))
          (else (call $tr (i32.const 1) (local.get $a))))
        (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance (export "tr" (func $tr))
      (export "bpi" (func $bpi)) (export "bpd" (func $bpd))))))
    (func (export "area") async (param "r" $rect2) (result $res2)
      (canon lift (core func $i "area") async (memory (core memory $libc "memory"))
        (callback (core func $i "cb")))))
  (component $B
    (import "a" (instance $a
      (type $u (enum "mm" "cm"))
      (export "unit" (type $unit (eq $u)))
      (type $r (record (field "w" u32) (field "h" u32) (field "unit" $unit)))
      (export "rect" (type $rect (eq $r)))
      (type $v (variant (case "small" u32) (case "big" u64) (case "none")))
      (export "res" (type $res (eq $v)))
      (export "area" (func async (param "r" $rect) (result $res)))))
    (core module $libc (memory (export "memory") 1))
    (core instance $libc (instantiate $libc))
    (core func $area (canon lower (func $a "area") (memory (core memory $libc "memory"))))
    (core func $yield (canon thread.yield))
    (core func $tr (canon task.return))
    (core module $m
      (import "" "memory" (memory 1))
      (import "" "tr" (func $tr))
      (import "" "area" (func $area (param i32 i32 i32 i32)))
      (import "" "yield" (func $yield (result i32)))
      ;; 0: small (u32) -> value, 1: big (u64) -> value + 1000000, 2: none -> 7
      (func (export "classify") (param i32 i32 i32) (result i64)
        (call $area (local.get 0) (local.get 1) (local.get 2) (i32.const 64))
        (drop (call $yield))
        (block $none (block $big (block $small
          (br_table $small $big $none (i32.load8_u (i32.const 64))))
          (return (i64.extend_i32_u (i32.load (i32.const 72)))))
          (return (i64.add (i64.load (i32.const 72)) (i64.const 1000000))))
        (i64.const 7))
      (func (export "idle") (result i32) (call $tr) (i32.const 0))
      (func (export "idle-cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "memory" (memory $libc "memory")) (export "area" (func $area))
      (export "yield" (func $yield)) (export "tr" (func $tr))))))
    (func (export "classify") (param "w" u32) (param "h" u32) (param "cm" bool) (result u64)
      (canon lift (core func $i "classify")))
    (func (export "idle") async
      (canon lift (core func $i "idle") async (callback (core func $i "idle-cb")))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "a" (instance $a))))
  (export "classify" (func $b "classify"))
  (export "idle" (func $b "idle"))
)
(assert_return (invoke "classify" (u32.const 3) (u32.const 4) (bool.const false)) (u64.const 12))
(assert_return (invoke "classify" (u32.const 3) (u32.const 4) (bool.const true)) (u64.const 1001200))
(assert_return (invoke "classify" (u32.const 0) (u32.const 4) (bool.const true)) (u64.const 7))
(assert_return (invoke "idle"))
