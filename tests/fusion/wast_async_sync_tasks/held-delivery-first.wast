;; While the sync-lifted `async func` `s` is suspended in its yields, its instance stays
;; entered, so the turn of the callback task `e` (queued before) is held. When `s` returns,
;; wasmtime leaves the instance first (the held turn is queued) and then lifts the result and
;; wakes the sync caller: `e`'s turn runs before the caller goes on, which the tick counter
;; folded into the next call's result shows (found by test_async_tasks_property's yielding
;; variant, seed 55).
(component
  (component $C
    (core module $CM
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "yield" (func $yield (result i32)))
      (global $ticks (mut i32) (i32.const 0))
      (func (export "e") (param $n i32) (result i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
        (i32.const 1 (; YIELD ;)))
      (func (export "cb") (param i32 i32 i32) (result i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 10)))
        (call $task.return (global.get $ticks))
        (i32.const 0))
      (func (export "s") (param $n i32) (result i32)
        (block $d (loop $l (br_if $d (i32.eqz (local.get $n)))
          (global.set $ticks (i32.add (global.get $ticks) (i32.const 100)))
          (drop (call $yield))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l)))
        (global.get $ticks))
    )
    (canon task.return (result u32) (core func $task.return))
    (canon thread.yield (core func $yield))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "task.return" (func $task.return))
      (export "yield" (func $yield))))))
    (func (export "e") async (param "n" u32) (result u32) (canon lift
      (core func $cm "e") async (callback (core func $cm "cb"))))
    (func (export "s") async (param "n" u32) (result u32) (canon lift (core func $cm "s")))
  )
  (component $D
    (import "e" (func $e async (param "n" u32) (result u32)))
    (import "s" (func $s async (param "n" u32) (result u32)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "e" (func $e (param i32 i32) (result i32)))
      (import "" "s" (func $s (param i32) (result i32)))
      (import "" "s-async" (func $s-async (param i32 i32) (result i32)))
      (func (export "run") (param $n i32) (result i32)
        (local $a i32) (local $r i32)
        (drop (call $e (i32.const 0) (i32.const 16)))
        (local.set $a (call $s (local.get $n)))
        (local.set $r (call $s-async (i32.const 0) (i32.const 20)))
        (i32.add (i32.mul (local.get $a) (i32.const 10000))
          (i32.add (i32.load (i32.const 20)) (i32.mul (local.get $r) (i32.const 100000000)))))
    )
    (canon lower (func $e) async (memory (core memory $memory "mem")) (core func $e'))
    (canon lower (func $s) (core func $s'))
    (canon lower (func $s) async (memory (core memory $memory "mem")) (core func $s-async))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "e" (func $e'))
      (export "s" (func $s'))
      (export "s-async" (func $s-async))))))
    (func (export "run") async (param "n" u32) (result u32) (canon lift (core func $dm "run")))
  )
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "e" (func $c "e")) (with "s" (func $c "s"))))
  (func (export "run") (alias export $d "run"))
)
(assert_return (invoke "run" (u32.const 2)) (u32.const 202010211))
