;; Each module instance's largest function body is placed first in its block of the fused code
;; (pymeld.merge.layout: wasmtime compiles functions in parallel in code order). Here the
;; callee's largest body, $big, is its last defined function, and every way of naming a
;; function reaches it or the function it swaps places with ($first): direct calls, an export,
;; an active element segment read by `call_indirect`, a declared `ref.func` stored by
;; `table.set`, the start function, and a `call` from a function of an imported instance's
;; module. The callee's module is instantiated twice (the placement is computed once per
;; module, used by both instances), and it imports a function, so its defined functions do not
;; start at index 0. tests/fusion/test_placement.py checks the placement itself.
(component definition $C
  (component $callee
    (core module $base
      (func (export "base") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1000))))
    (core module $m
      (import "env" "base" (func $base (param i32) (result i32)))
      (type $t (func (param i32) (result i32)))
      (table $tab 4 funcref)
      (global $seed (mut i32) (i32.const 0))
      (elem (table $tab) (i32.const 0) func $first $mid $big)
      (elem declare func $base)
      (func $first (export "first") (param i32) (result i32)
        (i32.add (call $big (local.get 0)) (global.get $seed)))
      (func $mid (export "mid") (param i32) (result i32)
        (table.set $tab (i32.const 3) (ref.func $base))
        (i32.add
          (call_indirect $tab (type $t) (local.get 0) (i32.const 0))
          (call_indirect $tab (type $t) (local.get 0) (i32.const 3))))
      (func $init (global.set $seed (call $big (i32.const 7))))
      (start $init)
      (func $slot (export "slot") (param $x i32) (param $k i32) (result i32)
        (call_indirect $tab (type $t) (local.get $x) (local.get $k)))
      ;; the largest body: a mixing function, long enough to be the largest by far
      (func $big (export "big") (param $x i32) (result i32) (local $h i32)
        (local.set $h (i32.xor (local.get $x) (i32.const 0x811c9dc5)))
        (local.set $h (i32.mul (local.get $h) (i32.const 0x01000193)))
        (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))))
        (local.set $h (i32.mul (local.get $h) (i32.const 0x5bd1e995)))
        (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 15))))
        (local.set $h (i32.add (local.get $h) (i32.rotl (local.get $x) (i32.const 7))))
        (local.set $h (i32.mul (local.get $h) (i32.const 0x27d4eb2d)))
        (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
        (local.set $h (i32.add (local.get $h) (i32.rotr (local.get $h) (i32.const 11))))
        (local.set $h (i32.mul (local.get $h) (i32.const 0x165667b1)))
        (i32.and (local.get $h) (i32.const 0x7fffffff))))
    (core instance $b (instantiate $base))
    (core instance $i (instantiate $m (with "env" (instance $b))))
    (core instance $j (instantiate $m (with "env" (instance (export "base" (func $i "big"))))))
    (func (export "first") (param "x" u32) (result u32) (canon lift (core func $i "first")))
    (func (export "mid") (param "x" u32) (result u32) (canon lift (core func $i "mid")))
    (func (export "big") (param "x" u32) (result u32) (canon lift (core func $i "big")))
    (func (export "slot") (param "x" u32) (param "k" u32) (result u32)
      (canon lift (core func $i "slot")))
    (func (export "first2") (param "x" u32) (result u32) (canon lift (core func $j "first")))
    (func (export "mid2") (param "x" u32) (result u32) (canon lift (core func $j "mid"))))
  (component $caller
    (import "callee" (instance $c
      (export "first" (func (param "x" u32) (result u32)))
      (export "mid" (func (param "x" u32) (result u32)))
      (export "big" (func (param "x" u32) (result u32)))
      (export "slot" (func (param "x" u32) (param "k" u32) (result u32)))
      (export "first2" (func (param "x" u32) (result u32)))
      (export "mid2" (func (param "x" u32) (result u32)))))
    (core func $first (canon lower (func $c "first")))
    (core func $mid (canon lower (func $c "mid")))
    (core func $big (canon lower (func $c "big")))
    (core func $slot (canon lower (func $c "slot")))
    (core func $first2 (canon lower (func $c "first2")))
    (core func $mid2 (canon lower (func $c "mid2")))
    (core module $main
      (import "c" "first" (func $first (param i32) (result i32)))
      (import "c" "mid" (func $mid (param i32) (result i32)))
      (import "c" "big" (func $big (param i32) (result i32)))
      (import "c" "slot" (func $slot (param i32 i32) (result i32)))
      (import "c" "first2" (func $first2 (param i32) (result i32)))
      (import "c" "mid2" (func $mid2 (param i32) (result i32)))
      (func (export "all") (param $x i32) (result i32)
        (i32.xor
          (i32.xor (i32.xor (call $first (local.get $x)) (i32.rotl (call $mid (local.get $x)) (i32.const 3)))
                   (i32.xor (call $big (local.get $x)) (i32.rotl (call $first2 (local.get $x)) (i32.const 5))))
          (i32.rotl (call $mid2 (local.get $x)) (i32.const 9)))))
    (core instance $mi (instantiate $main (with "c" (instance
      (export "first" (func $first)) (export "mid" (func $mid)) (export "big" (func $big))
      (export "slot" (func $slot)) (export "first2" (func $first2)) (export "mid2" (func $mid2))))))
    (func (export "all") (param "x" u32) (result u32) (canon lift (core func $mi "all")))
    (func (export "slot") (param "x" u32) (param "k" u32) (result u32)
      (canon lift (core func $slot))))
  (instance $ce (instantiate $callee))
  (instance $ca (instantiate $caller (with "callee" (instance $ce))))
  (export "all" (func $ca "all"))
  (export "slot" (func $ca "slot"))
  (export "big" (func $ce "big")))

(component instance $c $C)
(assert_return (invoke "all" (u32.const 0)) (u32.const 1513628329))
(assert_return (invoke "all" (u32.const 1)) (u32.const 2354218934))
(assert_return (invoke "all" (u32.const 123456)) (u32.const 257827052))
(assert_return (invoke "big" (u32.const 5)) (u32.const 1622677860))
(assert_return (invoke "slot" (u32.const 9) (u32.const 0)) (u32.const 1704374678))
(assert_return (invoke "slot" (u32.const 9) (u32.const 1)) (u32.const 1704375687))
(assert_return (invoke "slot" (u32.const 9) (u32.const 2)) (u32.const 220601289))
(assert_return (invoke "slot" (u32.const 9) (u32.const 3)) (u32.const 1009))
(assert_trap (invoke "slot" (u32.const 9) (u32.const 4)) "undefined element")
