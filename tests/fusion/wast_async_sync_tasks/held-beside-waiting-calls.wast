;; While the sync-lifted `async func` `s` (called async) is suspended in its yields, its
;; instance stays entered: the YIELD turn of the callback task `e` queued before is held, a
;; second `e` called meanwhile cannot start (STARTING), and a sync call of `s` blocks. wasmtime
;; keeps all three in the instance's `pending` map (a `BTreeMap` by task id) and queues them in
;; that order when `s` returns and the instance is left: the waiting `e` starts first here,
;; because its task took the id a dropped waitable set freed, then the held turn runs, then the
;; sync call. The ticks in the results show the order. The fused module orders them by the
;; mirrored store-wide ids (before: a run-time refusal, "a held delivery beside calls waiting
;; to start").
(component
  (component $C
    (core module $CM
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "yield" (func $yield (result i32)))
      (global $ticks (mut i32) (i32.const 0))
      (func (export "e") (param $n i32) (result i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
        (i32.const 1 (; YIELD ;)))
      (func (export "cb") (param i32 i32 i32) (result i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 10)))
        (call $task.return (global.get $ticks))
        (i32.const 0))
      (func (export "s") (param $n i32) (result i32)
        (block $d (loop $l (br_if $d (i32.eqz (local.get $n)))
          (global.set $ticks (i32.add (global.get $ticks) (i32.const 100)))
          (drop (call $yield))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l)))
        (global.get $ticks))
    )
    (canon task.return (result u32) (core func $task.return))
    (canon thread.yield (core func $yield))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "task.return" (func $task.return))
      (export "yield" (func $yield))))))
    (func (export "e") async (param "n" u32) (result u32) (canon lift
      (core func $cm "e") async (callback (core func $cm "cb"))))
    (func (export "s") async (param "n" u32) (result u32) (canon lift (core func $cm "s")))
  )
  (component $D
    (import "e" (func $e async (param "n" u32) (result u32)))
    (import "s" (func $s async (param "n" u32) (result u32)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "e" (func $e (param i32 i32) (result i32)))
      (import "" "s" (func $s (param i32) (result i32)))
      (import "" "s-async" (func $s-async (param i32 i32) (result i32)))
      (import "" "ws.new" (func $ws.new (result i32)))
      (import "" "ws.drop" (func $ws.drop (param i32)))
      (func (export "run") (param $n i32) (result i32)
        (local $ws i32) (local $a i32)
        (local.set $ws (call $ws.new))
        (drop (call $e (i32.const 0) (i32.const 16)))
        (drop (call $s-async (local.get $n) (i32.const 24)))
        (call $ws.drop (local.get $ws))
        (drop (call $e (i32.const 0) (i32.const 20)))
        (local.set $a (call $s (i32.const 0)))
        (i32.add (i32.load (i32.const 16))
          (i32.add (i32.mul (i32.load (i32.const 20)) (i32.const 1000))
            (i32.mul (local.get $a) (i32.const 1000000)))))
    )
    (canon lower (func $e) async (memory (core memory $memory "mem")) (core func $e'))
    (canon lower (func $s) (core func $s'))
    (canon lower (func $s) async (memory (core memory $memory "mem")) (core func $s-async))
    (canon waitable-set.new (core func $ws.new))
    (canon waitable-set.drop (core func $ws.drop))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "e" (func $e'))
      (export "s" (func $s'))
      (export "s-async" (func $s-async))
      (export "ws.new" (func $ws.new))
      (export "ws.drop" (func $ws.drop))))))
    (func (export "run") async (param "n" u32) (result u32) (canon lift (core func $dm "run")))
  )
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "e" (func $c "e")) (with "s" (func $c "s"))))
  (func (export "run") (alias export $d "run"))
)
(assert_return (invoke "run" (u32.const 2)) (u32.const 212000212))
(invoke "run" (u32.const 1))
