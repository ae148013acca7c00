;;! component_model_async = true
;; A blocking `stream.read` in core code shared by an in-module task (`f`, entered by an async
;; call) and a synchronous call of `s` (lifted synchronously, not `async`). Fused
;; (merge.asynctask `_no_block_entries`): `s` returns 5 without reading, and its blocking read
;; traps as wasmtime's does (only a task that may block may call the blocking form).
(component
  (component $C
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $CM
      (import "" "mem" (memory 1))
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "stream.new" (func $stream.new (result i64)))
      (import "" "stream.read" (func $read (param i32 i32 i32) (result i32)))
      ;; reads only when asked to (never here): the call graph still reaches the read
      (func $work (param $block i32) (result i32)
        (if (result i32) (local.get $block)
          (then (call $read (i32.wrap_i64 (call $stream.new)) (i32.const 0) (i32.const 1)))
          (else (i32.const 5))))
      (func (export "f") (result i32) (call $task.return (call $work (i32.const 0))) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable)
      (func (export "s") (param $block i32) (result i32) (call $work (local.get $block)))
    )
    (canon task.return (result u32) (core func $task.return))
    (type $ST (stream u8))
    (canon stream.new $ST (core func $stream.new))
    (canon stream.read $ST (memory (core memory $memory "mem")) (core func $read))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "task.return" (func $task.return))
      (export "stream.new" (func $stream.new))
      (export "stream.read" (func $read))))))
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
