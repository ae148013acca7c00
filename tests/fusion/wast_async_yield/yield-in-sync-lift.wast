;; `thread.yield` in core code shared by an in-module task (`f`) and a synchronous call of `s`
;; (lifted synchronously, not `async`: a task that may not block). Fused (merge.asynctask
;; `_no_block_entries`): on `s`'s path the yield returns at once, as wasmtime's does.
(component
  (component $C
    (core module $CM
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "yield" (func $yield (result i32)))
      (func $work (result i32) (i32.add (call $yield) (i32.const 5)))
      (func (export "f") (result i32) (call $task.return (call $work)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable)
      (func (export "s") (result i32) (call $work))
    )
    (canon task.return (result u32) (core func $task.return))
    (canon thread.yield (core func $yield))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "task.return" (func $task.return))
      (export "yield" (func $yield))))))
    (func (export "f") async (result u32) (canon lift
      (core func $cm "f") async (callback (core func $cm "cb"))))
    (func (export "s") (result u32) (canon lift (core func $cm "s")))
  )
  (component $D
    (import "f" (func $f async (result u32)))
    (import "s" (func $s (result u32)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $DM
      (import "" "f" (func $f (param i32) (result i32)))
      (import "" "s" (func $s (result i32)))
      (func (export "run") (result i32)
        (drop (call $f (i32.const 16)))
        (call $s))
    )
    (canon lower (func $f) async (memory (core memory $memory "mem")) (core func $f'))
    (canon lower (func $s) (core func $s'))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "f" (func $f'))
      (export "s" (func $s'))))))
    (func (export "run") async (result u32) (canon lift (core func $dm "run")))
  )
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "f" (func $c "f")) (with "s" (func $c "s"))))
  (func (export "run") (alias export $d "run"))
)
(assert_return (invoke "run") (u32.const 5))
