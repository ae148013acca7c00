;; A callback-lifted callee entered by an async lower sets backpressure: wasmtime would queue
;; the next async call to it as a STARTING subtask; in-module tasks do not gate yet (refused).
(component
  (component $C
    (core func $bp (canon backpressure.inc))
    (core func $ret (canon task.return (result u32)))
    (core module $CM
      (import "" "bp" (func $bp))
      (import "" "ret" (func $ret (param i32)))
      (func (export "f") (result i32) (call $bp) (call $ret (i32.const 7)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "bp" (func $bp)) (export "ret" (func $ret))))))
    (func (export "f") async (result u32)
      (canon lift (core func $cm "f") async (callback (core func $cm "cb")))))
  (component $D
    (import "f" (func $f async (result u32)))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (core func $f (canon lower (func $f) async (memory (core memory $mem "mem"))))
    (core module $DM
      (import "" "f" (func $f (param i32) (result i32)))
      (func (export "run") (result i32) (drop (call $f (i32.const 0))) (i32.load (i32.const 0))))
    (core instance $dm (instantiate $DM (with "" (instance (export "f" (func $f))))))
    (func (export "run") async (result u32) (canon lift (core func $dm "run"))))
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "f" (func $c "f"))))
  (export "run" (func $d "run")))
