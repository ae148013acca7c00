;; A driven root task that goes on after task.return (merge.asyncroot): wasmtime lets the host
;; call return with the result and runs the task's next callbacks only when its event loop gets
;; to them, which here is when a later call YIELDs (once per yield, in FIFO order with it); a
;; trap in such a callback fails that later call. The fused driver makes the task an in-module
;; task of its scheduler at its first YIELD after task.return (queued in the same FIFO).
(component definition $C
  (component $P
    (core module $PM
      (import "" "task.return" (func $task.return (param i32)))
      (func (export "work") (param $n i32) (result i32)
        (call $task.return (local.get $n)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (canon task.return (result u32) (core func $task.return))
    (core instance $pm (instantiate $PM (with "" (instance (export "task.return" (func $task.return))))))
    (func (export "work") async (param "n" u32) (result u32) (canon lift
      (core func $pm "work") async (callback (core func $pm "cb")))))
  (component $R
    (import "work" (func $work async (param "n" u32) (result u32)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $RM
      (import "" "mem" (memory 1))
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "work" (func $work (param i32 i32) (result i32)))
      (global $g (mut i32) (i32.const 0))
      (global $left (mut i32) (i32.const 0))
      (func (export "run") (param $n i32) (result i32)
        (drop (call $work (i32.const 1) (i32.const 0)))
        (call $task.return (global.get $g))
        (global.set $left (local.get $n))
        (i32.const 1))
      (func (export "cb") (param i32 i32 i32) (result i32)
        (global.set $g (i32.add (i32.mul (global.get $g) (i32.const 10)) (global.get $left)))
        (global.set $left (i32.sub (global.get $left) (i32.const 1)))
        (if (i32.eqz (global.get $left)) (then (return (i32.const 0))))
        (if (i32.eq (global.get $left) (i32.const 100)) (then unreachable))
        (i32.const 1))
      (func (export "get") (result i32) (global.get $g))
      (func (export "yield-get") (result i32) (i32.const 1))
      (func (export "yg-cb") (param i32 i32 i32) (result i32)
        (call $task.return (global.get $g)) (i32.const 0)))
    (canon task.return (result u32) (core func $task.return))
    (canon lower (func $work) async (memory (core memory $memory "mem")) (core func $work'))
    (core instance $rm (instantiate $RM (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "task.return" (func $task.return))
      (export "work" (func $work'))))))
    (func (export "run") async (param "n" u32) (result u32) (canon lift
      (core func $rm "run") async (callback (core func $rm "cb"))))
    (func (export "get") (result u32) (canon lift (core func $rm "get")))
    (func (export "yield-get") async (result u32) (canon lift
      (core func $rm "yield-get") async (callback (core func $rm "yg-cb")))))
  (instance $p (instantiate $P))
  (instance $r (instantiate $R (with "work" (func $p "work"))))
  (func (export "run") (alias export $r "run"))
  (func (export "get") (alias export $r "get"))
  (func (export "yield-get") (alias export $r "yield-get"))
)
(component instance $i $C)
(assert_return (invoke "run" (u32.const 3)) (u32.const 0))
(assert_return (invoke "get") (u32.const 0))
(assert_return (invoke "yield-get") (u32.const 3))
(assert_return (invoke "get") (u32.const 3))
(assert_return (invoke "yield-get") (u32.const 32))
(assert_return (invoke "yield-get") (u32.const 321))
(assert_return (invoke "yield-get") (u32.const 321))
(assert_return (invoke "get") (u32.const 321))
(component instance $i $C)
(assert_return (invoke "run" (u32.const 102)) (u32.const 0))
(assert_return (invoke "yield-get") (u32.const 102))
(assert_trap (invoke "yield-get") "unreachable")
