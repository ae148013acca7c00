;;! component_model_async = true
;; `waitable-set.wait` in core code shared by an in-module task (`f`, entered by an async call)
;; and a synchronous call of `s` (lifted synchronously, not `async`: a task that may not
;; block). Fused (merge.asynctask `_no_block_entries`): no entry stops an unwind on `s`'s
;; path, but none starts there: `s` polls (5), and its wait traps as wasmtime's does.
(component
  (component $C
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $CM
      (import "" "mem" (memory 1))
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "waitable-set.new" (func $new (result i32)))
      (import "" "waitable-set.poll" (func $poll (param i32 i32) (result i32)))
      (import "" "waitable-set.wait" (func $wait (param i32 i32) (result i32)))
      (global $ws (mut i32) (i32.const 0))
      ;; waits only when asked to (never here): the call graph still reaches the wait
      (func $work (param $block i32) (result i32)
        (if (i32.eqz (global.get $ws)) (then (global.set $ws (call $new))))
        (if (result i32) (local.get $block)
          (then (call $wait (global.get $ws) (i32.const 0)))
          (else (i32.add (call $poll (global.get $ws) (i32.const 0)) (i32.const 5)))))
      (func (export "f") (result i32) (call $task.return (call $work (i32.const 0))) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable)
      (func (export "s") (param $block i32) (result i32) (call $work (local.get $block)))
    )
    (canon task.return (result u32) (core func $task.return))
    (canon waitable-set.new (core func $new))
    (canon waitable-set.poll (memory (core memory $memory "mem")) (core func $poll))
    (canon waitable-set.wait (memory (core memory $memory "mem")) (core func $wait))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "task.return" (func $task.return))
      (export "waitable-set.new" (func $new))
      (export "waitable-set.poll" (func $poll))
      (export "waitable-set.wait" (func $wait))))))
    (func (export "f") async (result u32) (canon lift
      (core func $cm "f") async (callback (core func $cm "cb"))))
    (func (export "s") (param "block" u32) (result u32) (canon lift (core func $cm "s")))
  )
  (component $D
    (import "f" (func $f async (result u32)))
    (import "s" (func $s (param "block" u32) (result u32)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $DM
      (import "" "f" (func $f (param i32) (result i32)))
      (import "" "s" (func $s (param i32) (result i32)))
      (func (export "run") (param $block i32) (result i32)
        (drop (call $f (i32.const 16)))
        (call $s (local.get $block)))
    )
    (canon lower (func $f) async (memory (core memory $memory "mem")) (core func $f'))
    (canon lower (func $s) (core func $s'))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "f" (func $f'))
      (export "s" (func $s'))))))
    (func (export "run") async (param "block" u32) (result u32) (canon lift (core func $dm "run")))
  )
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "f" (func $c "f")) (with "s" (func $c "s"))))
  (func (export "run") (alias export $d "run"))
)
(assert_return (invoke "run" (u32.const 0)) (u32.const 5))
(assert_return (invoke "run" (u32.const 0)) (u32.const 5))
(assert_trap (invoke "run" (u32.const 1)) "cannot block a synchronous task")
