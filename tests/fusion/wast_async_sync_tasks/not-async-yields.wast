;; Beside the synchronously lifted `async func` `f`, which runs as an in-module task, `n`
;; (lifted synchronously, not `async`) reaches the same `thread.yield`. A task that may not
;; block is not an in-module task and no entry stops an unwind on its path, but its adapter
;; sets `may_block` to 0, so the yield returns at once there, as wasmtime's does
;; (merge.asynctask `_no_block_entries`).
(component
  (component $C
    (core module $CM
      (import "" "yield" (func $yield (result i32)))
      (func $work (param $k i32) (result i32)
        (if (local.get $k) (then (drop (call $yield))))
        (i32.add (local.get $k) (i32.const 5)))
      (func (export "f") (param $k i32) (result i32) (call $work (local.get $k)))
      (func (export "n") (param $k i32) (result i32) (call $work (local.get $k)))
    )
    (canon thread.yield (core func $yield))
    (core instance $cm (instantiate $CM (with "" (instance (export "yield" (func $yield))))))
    (func (export "f") async (param "k" u32) (result u32) (canon lift (core func $cm "f")))
    (func (export "n") (param "k" u32) (result u32) (canon lift (core func $cm "n")))
  )
  (component $D
    (import "f" (func $f async (param "k" u32) (result u32)))
    (import "n" (func $n (param "k" u32) (result u32)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "f" (func $f (param i32 i32) (result i32)))
      (import "" "n" (func $n (param i32) (result i32)))
      (func (export "run") (param $k i32) (result i32)
        (drop (call $f (i32.const 0) (i32.const 16)))
        (i32.add (i32.load (i32.const 16)) (call $n (local.get $k))))
    )
    (canon lower (func $f) async (memory (core memory $memory "mem")) (core func $f'))
    (canon lower (func $n) (core func $n'))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "f" (func $f'))
      (export "n" (func $n'))))))
    (func (export "run") async (param "k" u32) (result u32) (canon lift (core func $dm "run")))
  )
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "f" (func $c "f")) (with "n" (func $c "n"))))
  (func (export "run") (alias export $d "run"))
)
(assert_return (invoke "run" (u32.const 0)) (u32.const 10))
(assert_return (invoke "run" (u32.const 1)) (u32.const 11))
