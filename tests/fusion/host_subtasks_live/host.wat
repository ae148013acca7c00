;; The stand-in for the host of test_async_host_subtasks.py: `sleep(n)` is an `async func`
;; lifted with a callback that YIELDs n times before `task.return(n * 10 + 7)` (n = 0 returns
;; in its first call), so an async lower of it gets a subtask the host completes later, after
;; n turns of wasmtime's event loop; cancelled (TASK_CANCELLED) while it waits, it answers
;; with `task.cancel` when n is odd, else it goes on to return. `turns` counts the callbacks
;; run so far.
(component $Host
  (core module $HM
    (import "" "task.return" (func $task.return (param i32)))
    (import "" "context.get" (func $get (result i32)))
    (import "" "context.set" (func $set (param i32)))
    (import "" "task.cancel" (func $task.cancel))
    (global $turns (mut i32) (i32.const 0))
    ;; context slot 0: n << 16 | the yields left
    (func (export "sleep") (param $n i32) (result i32)
      (call $set (i32.or (i32.shl (local.get $n) (i32.const 16)) (local.get $n)))
      (if (i32.eqz (local.get $n))
        (then (call $task.return (i32.const 7)) (return (i32.const 0))))
      (i32.const 1 (; YIELD ;)))
    (func (export "cb") (param $e i32) (param $i i32) (param $p i32) (result i32)
      (global.set $turns (i32.add (global.get $turns) (i32.const 1)))
      (if (i32.and (i32.eq (local.get $e) (i32.const 6 (; TASK_CANCELLED ;)))
                   (i32.and (i32.shr_u (call $get) (i32.const 16)) (i32.const 1)))
        (then (call $task.cancel) (return (i32.const 0))))
      (call $set (i32.sub (call $get) (i32.const 1)))
      (if (i32.eqz (i32.and (call $get) (i32.const 0xffff)))
        (then
          (call $task.return
            (i32.add (i32.mul (i32.shr_u (call $get) (i32.const 16)) (i32.const 10)) (i32.const 7)))
          (return (i32.const 0))))
      (i32.const 1 (; YIELD ;)))
    (func (export "turns") (result i32) (global.get $turns)))
  (core func $task.return (canon task.return (result u32)))
  (core func $get (canon context.get i32 0))
  (core func $set (canon context.set i32 0))
  (core func $task.cancel (canon task.cancel))
  (core instance $hm (instantiate $HM (with "" (instance
    (export "task.cancel" (func $task.cancel))
    (export "task.return" (func $task.return))
    (export "context.get" (func $get))
    (export "context.set" (func $set))))))
  (func (export "sleep") async (param "n" u32) (result u32)
    (canon lift (core func $hm "sleep") async (callback (core func $hm "cb"))))
  (func (export "turns") (result u32) (canon lift (core func $hm "turns"))))
