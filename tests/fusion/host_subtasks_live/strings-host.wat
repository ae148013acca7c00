;; The host stand-in of test_async_host_subtasks.py's string case: `sleep(n)` YIELDs n times,
;; then returns "hello, host!" (n = 0: "hello" in its first call), so the runtime copies the
;; string into the caller's memory through its realloc when it completes the subtask.
(component $Host
  (core module $Mem (memory (export "mem") 1))
  (core instance $mem (instantiate $Mem))
  (core module $HM
    (import "" "mem" (memory 1))
    (import "" "task.return" (func $task.return (param i32 i32)))
    (import "" "context.get" (func $get (result i32)))
    (import "" "context.set" (func $set (param i32)))
    (data (i32.const 100) "hello, host!")
    (func (export "sleep") (param $n i32) (result i32)
      (call $set (local.get $n))
      (if (i32.eqz (local.get $n))
        (then (call $task.return (i32.const 100) (i32.const 5)) (return (i32.const 0))))
      (i32.const 1))
    (func (export "cb") (param $e i32) (param $i i32) (param $p i32) (result i32)
      (call $set (i32.sub (call $get) (i32.const 1)))
      (if (i32.eqz (call $get))
        (then (call $task.return (i32.const 100) (i32.const 12)) (return (i32.const 0))))
      (i32.const 1)))
  (core func $task.return (canon task.return (result string) (memory (core memory $mem "mem"))))
  (core func $get (canon context.get i32 0))
  (core func $set (canon context.set i32 0))
  (core instance $hm (instantiate $HM (with "" (instance
    (export "mem" (memory $mem "mem"))
    (export "task.return" (func $task.return))
    (export "context.get" (func $get))
    (export "context.set" (func $set))))))
  (func (export "sleep") async (param "n" u32) (result string)
    (canon lift (core func $hm "sleep") async (memory (core memory $mem "mem")) (callback (core func $hm "cb")))))
