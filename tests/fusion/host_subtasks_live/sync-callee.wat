;; A second composition of test_async_host_subtasks.py: $C's `nap` (an `async func` lifted
;; synchronously) lowers the host's `sleep` `async` and blocks in `waitable-set.wait` for it;
;; $D, the root, calls `nap` twice through synchronous adapters: no async call between the
;; instances, so the host subtask alone makes the composition take the in-module task path.
(component
  (import "sleep" (func $sleep async (param "n" u32) (result u32)))
  (component $C
    (import "sleep" (func $sleep async (param "n" u32) (result u32)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $CM
      (import "" "mem" (memory 1))
      (import "" "waitable-set.new" (func $new (result i32)))
      (import "" "waitable.join" (func $join (param i32 i32)))
      (import "" "waitable-set.wait" (func $wait (param i32 i32) (result i32)))
      (import "" "subtask.drop" (func $drop (param i32)))
      (import "" "sleep" (func $sleep (param i32 i32) (result i32)))
      (func (export "nap") (param $n i32) (result i32)
        (local $r i32) (local $ws i32)
        (local.set $r (call $sleep (local.get $n) (i32.const 16)))
        (if (i32.ne (local.get $r) (i32.const 2))
          (then
            (local.set $ws (call $new))
            (call $join (i32.shr_u (local.get $r) (i32.const 4)) (local.get $ws))
            (if (i32.ne (call $wait (local.get $ws) (i32.const 0)) (i32.const 1)) (then unreachable))
            (call $drop (i32.load (i32.const 0)))))
        (i32.add (i32.load (i32.const 16)) (i32.const 1000))))
    (core func $new (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $wait (canon waitable-set.wait (memory (core memory $memory "mem"))))
    (core func $drop (canon subtask.drop))
    (core func $sleep' (canon lower (func $sleep) async (memory (core memory $memory "mem"))))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "waitable-set.new" (func $new))
      (export "waitable.join" (func $join))
      (export "waitable-set.wait" (func $wait))
      (export "subtask.drop" (func $drop))
      (export "sleep" (func $sleep'))))))
    (func (export "nap") async (param "n" u32) (result u32) (canon lift (core func $cm "nap"))))
  (component $D
    (import "nap" (func $nap async (param "n" u32) (result u32)))
    (core func $nap' (canon lower (func $nap)))
    (core module $DM
      (import "" "nap" (func $nap (param i32) (result i32)))
      (func (export "run") (param $n i32) (result i32)
        (i32.add (call $nap (local.get $n)) (call $nap (i32.add (local.get $n) (i32.const 1))))))
    (core instance $dm (instantiate $DM (with "" (instance (export "nap" (func $nap'))))))
    (func (export "run") async (param "n" u32) (result u32) (canon lift (core func $dm "run"))))
  (instance $c (instantiate $C (with "sleep" (func $sleep))))
  (instance $d (instantiate $D (with "nap" (func $c "nap"))))
  (export "run" (func $d "run")))
