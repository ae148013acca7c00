;; Two subtasks of one waitable set have events at once (both returned while the caller was
;; blocked in a sync call): wasmtime delivers them in its store-wide table order (merge.asyncids).
;; Root task 0, its sync-call set 1, thread 2; set 3; A's task 4 (+5, 6); B's task 7: A first
;; (handle 2).
(component
  (component $C
    (core func $task.return (canon task.return (result u32)))
    (core module $M
      (import "" "task.return" (func $task.return (param i32)))
      (global $left (mut i32) (i32.const 0))
      (func (export "once") (result i32) (i32.const 1))
      (func (export "once-cb") (param i32 i32 i32) (result i32)
        (call $task.return (i32.const 1)) (i32.const 0))
      (func (export "slow") (result i32) (global.set $left (i32.const 3)) (i32.const 1))
      (func (export "slow-cb") (param i32 i32 i32) (result i32)
        (global.set $left (i32.sub (global.get $left) (i32.const 1)))
        (if (result i32) (global.get $left) (then (i32.const 1))
          (else (call $task.return (i32.const 7)) (i32.const 0)))))
    (core instance $m (instantiate $M (with "" (instance
      (export "task.return" (func $task.return))))))
    (func (export "once") async (result u32)
      (canon lift (core func $m "once") async (callback (core func $m "once-cb"))))
    (func (export "slow") async (result u32)
      (canon lift (core func $m "slow") async (callback (core func $m "slow-cb")))))
  (component $D
    (import "once" (func $once async (result u32)))
    (import "slow" (func $slow async (result u32)))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (core func $once (canon lower (func $once) async (memory (core memory $mem "mem"))))
    (core func $slow (canon lower (func $slow)))
    (core func $new (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $wait (canon waitable-set.wait (memory (core memory $mem "mem"))))
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "once" (func $once (param i32) (result i32)))
      (import "" "slow" (func $slow (result i32)))
      (import "" "new" (func $new (result i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "wait" (func $wait (param i32 i32) (result i32)))
      (func (export "run") (result i32) (local $ws i32)
        (local.set $ws (call $new))
        (call $join (i32.shr_u (call $once (i32.const 16)) (i32.const 4)) (local.get $ws))
        (call $join (i32.shr_u (call $once (i32.const 20)) (i32.const 4)) (local.get $ws))
        (drop (call $slow))
        (drop (call $wait (local.get $ws) (i32.const 0)))
        (i32.load (i32.const 0))))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "once" (func $once))
      (export "slow" (func $slow)) (export "new" (func $new)) (export "join" (func $join))
      (export "wait" (func $wait))))))
    (func (export "run") async (result u32) (canon lift (core func $dm "run"))))
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "once" (func $c "once")) (with "slow" (func $c "slow"))))
  (func (export "run") (alias export $d "run")))
(assert_return (invoke "run") (u32.const 2))
