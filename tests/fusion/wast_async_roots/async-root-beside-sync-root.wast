;;! component_model_async = true
;; The host calls a callback-lifted async export of one instance and a sync export of another,
;; with no calls between them (refused before: one fused instance would share the runtime's
;; task lock and backpressure; the in-module path drives the async root itself).
(component definition $C
  (component $A
    (core module $AM
      (import "" "task.return" (func $task.return (param i32)))
      (global $n (mut i32) (i32.const 0))
      (func (export "run") (param $x i32) (result i32)
        (global.set $n (local.get $x))
        (i32.const 1 (; YIELD ;)))
      (func (export "run-cb") (param $e i32) (param $i i32) (param $p i32) (result i32)
        (call $task.return (i32.add (global.get $n) (i32.const 100)))
        (i32.const 0))
    )
    (canon task.return (result u32) (core func $task.return))
    (core instance $am (instantiate $AM (with "" (instance (export "task.return" (func $task.return))))))
    (func (export "run") async (param "x" u32) (result u32) (canon lift
      (core func $am "run") async (callback (core func $am "run-cb"))))
  )
  (component $B
    (core module $BM
      (global $c (mut i32) (i32.const 0))
      (func (export "get") (result i32)
        (global.set $c (i32.add (global.get $c) (i32.const 1)))
        (global.get $c))
    )
    (core instance $bm (instantiate $BM))
    (func (export "get") (result u32) (canon lift (core func $bm "get")))
  )
  (instance $a (instantiate $A))
  (instance $b (instantiate $B))
  (export "run" (func $a "run"))
  (export "get" (func $b "get"))
)
(component instance $i $C)
(assert_return (invoke "get") (u32.const 1))
(assert_return (invoke "run" (u32.const 5)) (u32.const 105))
(assert_return (invoke "get") (u32.const 2))
(assert_return (invoke "run" (u32.const 7)) (u32.const 107))
