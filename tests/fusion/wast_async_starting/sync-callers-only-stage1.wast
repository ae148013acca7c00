;; sync-callers-only.wast without its in-module task (E's): no async call between instances,
;; yet the sync call of C's `async func` is gated by C's backpressure (wasmtime's `start_call`),
;; not the sync-to-sync call of a plain function: with the counter raised by the caller itself,
;; the gated call deadlocks (in both; stage 1 alone would have run it).
(component definition $T
  (component $C
    (core func $inc (canon backpressure.inc))
    (core func $dec (canon backpressure.dec))
    (core module $CM
      (import "" "inc" (func $inc))
      (import "" "dec" (func $dec))
      (global $calls (mut i32) (i32.const 0))
      (func (export "bp") (param $up i32)
        (if (local.get $up) (then (call $inc)) (else (call $dec))))
      (func (export "plain") (result i32)
        (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (global.get $calls))
      (func (export "af") (result i32)
        (global.set $calls (i32.add (global.get $calls) (i32.const 10)))
        (global.get $calls))
    )
    (core instance $cm (instantiate $CM (with "" (instance
      (export "inc" (func $inc)) (export "dec" (func $dec))))))
    (func (export "bp") (param "up" u32) (canon lift (core func $cm "bp")))
    (func (export "plain") (result u32) (canon lift (core func $cm "plain")))
    (func (export "af") async (result u32) (canon lift (core func $cm "af")))
  )
  (component $D
    (import "c" (instance $c
      (export "bp" (func (param "up" u32)))
      (export "plain" (func (result u32)))
      (export "af" (func async (result u32)))))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core func $bp (canon lower (func $c "bp")))
    (core func $plain (canon lower (func $c "plain")))
    (core func $af (canon lower (func $c "af")))
    (core module $DM
      (import "" "bp" (func $bp (param i32)))
      (import "" "plain" (func $plain (result i32)))
      (import "" "af" (func $af (result i32)))
      (import "" "mem" (memory 1))
      (func (export "run") (param $gate i32) (result i32)
        (local $r i32)
        (if (local.get $gate) (then (call $bp (i32.const 1))))
        (local.set $r (call $plain))
        (local.set $r (i32.add (i32.mul (local.get $r) (i32.const 100)) (call $af)))
        (if (local.get $gate) (then (call $bp (i32.const 0))))
        (local.get $r))
    )
    (core instance $dm (instantiate $DM (with "" (instance
      (export "bp" (func $bp)) (export "plain" (func $plain)) (export "af" (func $af)) (export "mem" (memory $memory "mem"))))))
    (func (export "run") async (param "gate" u32) (result u32)
      (canon lift (core func $dm "run")))
  )
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "c" (instance $c))))
  (func (export "run") (alias export $d "run"))
)
(component instance $i0 $T)
(assert_return (invoke "run" (u32.const 0)) (u32.const 111))
(assert_return (invoke "run" (u32.const 0)) (u32.const 1222))
(component instance $i1 $T)
(assert_trap (invoke "run" (u32.const 1)) "deadlock")
