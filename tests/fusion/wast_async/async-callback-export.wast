;;! component_model_async = true
;; An async instance ($A, nested) whose export is lifted `async` with a `callback`: it stashes
;; a value computed by a sync helper instance (a fused adapter) in context slot 0, yields, and
;; in the callback returns it as a string through `task.return` (memory: shim/fixup path).

(component
  (component $Helper
    (core module $m
      (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))
    (core instance $i (instantiate $m))
    (func (export "double") (param "x" u32) (result u32) (canon lift (core func $i "double")))
  )
  (component $A
    (import "double" (func $double (param "x" u32) (result u32)))
    (core module $libc (memory (export "memory") 1))
    (core instance $libc (instantiate $libc))
    (core func $double (canon lower (func $double)))
    (core func $task.return
      (canon task.return (result string) (memory (core memory $libc "memory"))))
    (core func $get (canon context.get i32 0))
    (core func $set (canon context.set i32 0))
    (core module $m
      (import "" "memory" (memory 1))
      (import "" "double" (func $double (param i32) (result i32)))
      (import "" "task.return" (func $task.return (param i32 i32)))
      (import "" "get" (func $get (result i32)))
      (import "" "set" (func $set (param i32)))
      (data (i32.const 100) "0123456789")
      (func (export "run") (param i32) (result i32)
        (call $set (call $double (local.get 0)))
        (i32.const 1))  ;; YIELD
      (func (export "cb") (param $event i32) (param i32 i32) (result i32)
        (if (local.get $event) (then unreachable))  ;; EVENT_NONE after a yield
        (if (i32.ge_u (call $get) (i32.const 10)) (then unreachable))
        (call $task.return (i32.add (i32.const 100) (call $get)) (i32.const 1))
        (i32.const 0))  ;; EXIT
    )
    (core instance $i (instantiate $m (with "" (instance
      (export "memory" (memory $libc "memory"))
      (export "double" (func $double))
      (export "task.return" (func $task.return))
      (export "get" (func $get))
      (export "set" (func $set))))))
    (func (export "run") async (param "n" u32) (result string)
      (canon lift (core func $i "run") async (memory (core memory $libc "memory"))
        (callback (core func $i "cb"))))
  )
  (instance $h (instantiate $Helper))
  (instance $a (instantiate $A (with "double" (func $h "double"))))
  (export "run" (func $a "run"))
)
(assert_return (invoke "run" (u32.const 3)) (str.const "6"))
(assert_return (invoke "run" (u32.const 4)) (str.const "8"))
(assert_trap (invoke "run" (u32.const 7)) "unreachable")
