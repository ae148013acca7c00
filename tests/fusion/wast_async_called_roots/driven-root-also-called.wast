;;! component_model_async = true
;; $R's callback-lifted `work` is called by the host (driven in-module: merge.asyncroot) and
;; through adapters by $C's callback-lifted root export, over an async lower and a sync lower.
;; `work` returns its result first and yields, going on after its return: the host's call
;; returns at `task.return` and its task goes on in-module, beside the in-module tasks of the
;; same instance $C starts, one `task.return` built-in serving both. `count` shows every turn.
(component
  (component $R
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "tr" (func $tr (param i32)))
      (global $calls (mut i32) (i32.const 0))
      (global $turns (mut i32) (i32.const 0))
      (func (export "work") (param $x i32) (result i32)
        (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (call $tr (i32.add (i32.mul (local.get $x) (i32.const 10)) (global.get $calls)))
        (i32.const 1))  ;; YIELD after returning
      (func (export "work-cb") (param i32 i32 i32) (result i32)
        (global.set $turns (i32.add (global.get $turns) (i32.const 1)))
        (i32.const 0))
      (func (export "count") (result i32)
        (i32.add (i32.mul (global.get $calls) (i32.const 100)) (global.get $turns))))
    (core instance $i (instantiate $m (with "" (instance (export "tr" (func $tr))))))
    (func (export "work") async (param "x" u32) (result u32)
      (canon lift (core func $i "work") async (callback (core func $i "work-cb"))))
    (func (export "count") (result u32) (canon lift (core func $i "count"))))
  (component $C
    (import "work" (func $work async (param "x" u32) (result u32)))
    (core module $mem (memory (export "mem") 1))
    (core instance $mem (instantiate $mem))
    (core func $awork (canon lower (func $work) async (memory (core memory $mem "mem"))))
    (core func $swork (canon lower (func $work)))
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "mem" (memory 1))
      (import "" "awork" (func $awork (param i32 i32) (result i32)))
      (import "" "swork" (func $swork (param i32) (result i32)))
      (import "" "tr" (func $tr (param i32)))
      (func (export "run") (param $x i32) (result i32) (local $r i32) (local $s i32)
        (local.set $r (call $awork (local.get $x) (i32.const 8)))
        (local.set $s (call $swork (i32.add (local.get $x) (i32.const 1))))
        (call $tr (i32.add (i32.mul (local.get $r) (i32.const 1000000))
          (i32.add (i32.mul (i32.load (i32.const 8)) (i32.const 1000)) (local.get $s))))
        (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "mem" (memory $mem "mem")) (export "awork" (func $awork))
      (export "swork" (func $swork)) (export "tr" (func $tr))))))
    (func (export "run") async (param "x" u32) (result u32)
      (canon lift (core func $i "run") async (callback (core func $i "cb")))))
  (instance $r (instantiate $R))
  (instance $c (instantiate $C (with "work" (func $r "work"))))
  (export "run" (func $c "run"))
  (export "work" (func $r "work"))
  (export "count" (func $r "count"))
)
(assert_return (invoke "count") (u32.const 0))
(assert_return (invoke "work" (u32.const 5)) (u32.const 51))
(assert_return (invoke "count") (u32.const 100))
(assert_return (invoke "run" (u32.const 1)) (u32.const 2012023))
(assert_return (invoke "count") (u32.const 300))
(assert_return (invoke "work" (u32.const 2)) (u32.const 24))
(assert_return (invoke "count") (u32.const 400))
(assert_return (invoke "run" (u32.const 3)) (u32.const 2035046))
(assert_return (invoke "count") (u32.const 600))
