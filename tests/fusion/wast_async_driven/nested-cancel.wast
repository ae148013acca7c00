;;! component_model_async = true
;;! multi_memory = true
;; Seed 7 of test_async_driven_property.py, kept with the original's results: callback-lifted
;; (driven) root exports making async calls into a middle component (whose tasks make async
;; calls of their own: nested subtasks) and a leaf, YIELDing, WAITing for the oldest subtask,
;; cancelling it async (the callees answer TASK_CANCELLED in various ways) and calling
;; synchronously (the root's callback blocks).
(component
  (component $C
    (core func $task.return (canon task.return (result u32)))
    (core func $task.cancel (canon task.cancel))
    (core func $get0 (canon context.get i32 0))
    (core func $set0 (canon context.set i32 0))
    (core module $M
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "task.cancel" (func $task.cancel))
      (import "" "get0" (func $get0 (result i32)))
      (import "" "set0" (func $set0 (param i32)))
      (global $ticks (mut i32) (i32.const 0))
      (func $step0 (result i32) (local $c i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
        (local.set $c (call $get0))
        (if (i32.and (local.get $c) (i32.const 0x800000)) (then
          (call $task.cancel) (return (i32.const 0))))
        (if (i32.and (local.get $c) (i32.const 0x7f0000)) (then
          (call $set0 (i32.sub (local.get $c) (i32.const 0x10000)))
          (return (i32.const 1))))
        (if (i32.eqz (i32.and (local.get $c) (i32.const 0x80000000))) (then
          (call $task.return (i32.add
            (i32.mul (i32.and (local.get $c) (i32.const 0xffff)) (i32.const 9))
            (i32.mul (global.get $ticks) (i32.const 1000))))
          (call $set0 (i32.or (local.get $c) (i32.const 2147483648)))
          (return (i32.const 0))))
        (i32.const 0))
      (func (export "e0") (param $n i32) (result i32)
        (call $set0 (i32.or (i32.and (local.get $n) (i32.const 0xffff))
          (i32.const 0)))
        (call $step0))
      (func (export "cb0") (param $ev i32) (param i32 i32) (result i32)
        (if (i32.eq (local.get $ev) (i32.const 6)) (then
          (global.set $ticks (i32.add (global.get $ticks) (i32.const 100)))
          (return (call $task.cancel) (i32.const 0))))
        (if (local.get $ev) (then unreachable))
        (call $step0))
      (func $step1 (result i32) (local $c i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
        (local.set $c (call $get0))
        (if (i32.and (local.get $c) (i32.const 0x800000)) (then
          (call $task.cancel) (return (i32.const 0))))
        (if (i32.and (local.get $c) (i32.const 0x7f0000)) (then
          (call $set0 (i32.sub (local.get $c) (i32.const 0x10000)))
          (return (i32.const 1))))
        (if (i32.eqz (i32.and (local.get $c) (i32.const 0x80000000))) (then
          (call $task.return (i32.add
            (i32.mul (i32.and (local.get $c) (i32.const 0xffff)) (i32.const 1))
            (i32.mul (global.get $ticks) (i32.const 1000))))
          (call $set0 (i32.or (local.get $c) (i32.const 2147549184)))
          (return (i32.const 1))))
        (i32.const 0))
      (func (export "e1") (param $n i32) (result i32)
        (call $set0 (i32.or (i32.and (local.get $n) (i32.const 0xffff))
          (i32.const 131072)))
        (call $step1))
      (func (export "cb1") (param $ev i32) (param i32 i32) (result i32)
        (if (i32.eq (local.get $ev) (i32.const 6)) (then
          (global.set $ticks (i32.add (global.get $ticks) (i32.const 100)))
          (return (call $set0 (i32.const 0x800000)) (i32.const 1))))
        (if (local.get $ev) (then unreachable))
        (call $step1))
      (func (export "ticks") (result i32) (global.get $ticks)))
    (core instance $m (instantiate $M (with "" (instance
      (export "task.return" (func $task.return)) (export "task.cancel" (func $task.cancel))
      (export "get0" (func $get0)) (export "set0" (func $set0))))))
    (func (export "e0") async (param "n" u32) (result u32)
      (canon lift (core func $m "e0") async (callback (core func $m "cb0"))))
    (func (export "e1") async (param "n" u32) (result u32)
      (canon lift (core func $m "e1") async (callback (core func $m "cb1"))))
    (func (export "ticks") (result u32) (canon lift (core func $m "ticks"))))
  (component $B
    (import "c" (instance $c (export "e0" (func async (param "n" u32) (result u32))) (export "e1" (func async (param "n" u32) (result u32)))))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (core func $e0 (canon lower (func $c "e0") async (memory (core memory $mem "mem"))))
    (core func $e1 (canon lower (func $c "e1") async (memory (core memory $mem "mem"))))
    (core func $task.return (canon task.return (result u32)))
    (core func $task.cancel (canon task.cancel))
    (core func $new (canon waitable-set.new))
    (core func $wsdrop (canon waitable-set.drop))
    (core func $join (canon waitable.join))
    (core func $drop (canon subtask.drop))
    (core func $cancel (canon subtask.cancel async))
    (core func $get0 (canon context.get i32 0))
    (core func $set0 (canon context.set i32 0))
    (core module $M
      (import "" "mem" (memory 1))
      (import "" "e0" (func $e0 (param i32 i32) (result i32)))
      (import "" "e1" (func $e1 (param i32 i32) (result i32)))
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "task.cancel" (func $task.cancel))
      (import "" "new" (func $new (result i32)))
      (import "" "wsdrop" (func $wsdrop (param i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "drop" (func $drop (param i32)))
      (import "" "cancel" (func $cancel (param i32) (result i32)))
      (import "" "get0" (func $get0 (result i32)))
      (import "" "set0" (func $set0 (param i32)))
      (global $bump (mut i32) (i32.const 64))
      (global $ticks (mut i32) (i32.const 0))
      (func $fold (param $p i32) (param $v i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
        (i32.store offset=4 (local.get $p) (i32.add
          (i32.mul (i32.load offset=4 (local.get $p)) (i32.const 3)) (local.get $v))))
      (func $pend (param $p i32) (param $h i32) (local $ws i32)
        (local.set $ws (call $new))
        (call $join (local.get $h) (local.get $ws))
        (i32.store offset=8 (local.get $p) (local.get $h))
        (i32.store offset=12 (local.get $p) (local.get $ws)))
      ;; an event for the pending subtask, or this task's cancellation
      (func $on_event (param $p i32) (param $ev i32) (param $h i32) (param $st i32)
        (local $s i32)
        (if (i32.eq (local.get $ev) (i32.const 6)) (then
          (local.set $h (i32.load offset=8 (local.get $p)))
          (call $join (local.get $h) (i32.const 0))
          (local.set $s (call $cancel (local.get $h)))
          (if (i32.ne (local.get $s) (i32.const -1)) (then
            (call $drop (local.get $h))
            (call $wsdrop (i32.load offset=12 (local.get $p)))))
          (call $task.cancel)
          (return)))
        (if (i32.ne (local.get $ev) (i32.const 1)) (then unreachable))
        (if (i32.ne (local.get $h) (i32.load offset=8 (local.get $p))) (then unreachable))
        (call $fold (local.get $p) (i32.add (i32.mul (local.get $h) (i32.const 100))
          (local.get $st)))
        (call $fold (local.get $p) (i32.load offset=20 (local.get $p)))
        (i32.store offset=20 (local.get $p) (i32.const 0))
        (call $drop (local.get $h))
        (call $wsdrop (i32.load offset=12 (local.get $p))))
      (func $run0 (param $p i32) (result i32) (local $r i32) (local $h i32) (local $s i32)
        (local $k i32)
        (loop $top
          (local.set $k (i32.load (local.get $p)))
          (i32.store (local.get $p) (i32.add (local.get $k) (i32.const 1)))
          (block $next
            (block $done
              (block $op2
              (block $op1
              (block $op0
                (br_table $op0 $op1 $op2 $done
                  (local.get $k)))
          ;; op 0: e0 then wait
          (local.set $r (call $e0 (i32.add (i32.load offset=16 (local.get $p)) (i32.const 0))
            (i32.add (local.get $p) (i32.const 20))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (call $fold (local.get $p) (i32.load offset=20 (local.get $p))) (br $next)))
          (local.set $h (i32.shr_u (local.get $r) (i32.const 4)))
          (call $pend (local.get $p) (local.get $h))
          (return (i32.or (i32.shl (i32.load offset=12 (local.get $p)) (i32.const 4))
            (i32.const 2)))
              )
          ;; op 1: e0 then wait
          (local.set $r (call $e0 (i32.add (i32.load offset=16 (local.get $p)) (i32.const 1))
            (i32.add (local.get $p) (i32.const 20))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (call $fold (local.get $p) (i32.load offset=20 (local.get $p))) (br $next)))
          (local.set $h (i32.shr_u (local.get $r) (i32.const 4)))
          (call $pend (local.get $p) (local.get $h))
          (return (i32.or (i32.shl (i32.load offset=12 (local.get $p)) (i32.const 4))
            (i32.const 2)))
              )
          ;; op 2: e1 then wait
          (local.set $r (call $e1 (i32.add (i32.load offset=16 (local.get $p)) (i32.const 2))
            (i32.add (local.get $p) (i32.const 20))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (call $fold (local.get $p) (i32.load offset=20 (local.get $p))) (br $next)))
          (local.set $h (i32.shr_u (local.get $r) (i32.const 4)))
          (call $pend (local.get $p) (local.get $h))
          (return (i32.or (i32.shl (i32.load offset=12 (local.get $p)) (i32.const 4))
            (i32.const 2)))
            )
            ;; done: return the folded value
            (call $task.return (i32.load offset=4 (local.get $p)))
            (return (i32.const 0)))
          (br $top))
        (unreachable))
      (func (export "b0") (param $n i32) (result i32) (local $p i32)
        (local.set $p (global.get $bump))
        (global.set $bump (i32.add (global.get $bump) (i32.const 32)))
        (i32.store offset=16 (local.get $p) (local.get $n))
        (call $set0 (local.get $p))
        (call $run0 (local.get $p)))
      (func (export "cb0") (param $ev i32) (param $h i32) (param $st i32) (result i32)
        (call $on_event (call $get0) (local.get $ev) (local.get $h) (local.get $st))
        (if (i32.eq (local.get $ev) (i32.const 6)) (then (return (i32.const 0))))
        (call $run0 (call $get0))))
    (core instance $m (instantiate $M (with "" (instance
      (export "mem" (memory $mem "mem")) (export "e0" (func $e0)) (export "e1" (func $e1))
      (export "task.return" (func $task.return)) (export "task.cancel" (func $task.cancel))
      (export "new" (func $new)) (export "wsdrop" (func $wsdrop)) (export "join" (func $join))
      (export "drop" (func $drop)) (export "cancel" (func $cancel))
      (export "get0" (func $get0)) (export "set0" (func $set0))))))
    (func (export "b0") async (param "n" u32) (result u32)
      (canon lift (core func $m "b0") async (callback (core func $m "cb0")))))
  (component $R
    (import "c" (instance $c (export "e0" (func async (param "n" u32) (result u32))) (export "e1" (func async (param "n" u32) (result u32))) (export "e2" (func async (param "n" u32) (result u32))) (export "ticks" (func (result u32)))))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (core func $a0 (canon lower (func $c "e0") async (memory (core memory $mem "mem"))))
    (core func $s0 (canon lower (func $c "e0")))
    (core func $a1 (canon lower (func $c "e1") async (memory (core memory $mem "mem"))))
    (core func $s1 (canon lower (func $c "e1")))
    (core func $a2 (canon lower (func $c "e2") async (memory (core memory $mem "mem"))))
    (core func $s2 (canon lower (func $c "e2")))
    (core func $ticks (canon lower (func $c "ticks")))
    (core func $task.return (canon task.return (result u32)))
    (core func $new (canon waitable-set.new))
    (core func $wsdrop (canon waitable-set.drop))
    (core func $join (canon waitable.join))
    (core func $drop (canon subtask.drop))
    (core func $acancel (canon subtask.cancel async))
    (core func $get0 (canon context.get i32 0))
    (core func $set0 (canon context.set i32 0))
    (core module $M
      (import "" "mem" (memory 1))
      (import "" "a0" (func $a0 (param i32 i32) (result i32)))
      (import "" "s0" (func $s0 (param i32) (result i32)))
      (import "" "a1" (func $a1 (param i32 i32) (result i32)))
      (import "" "s1" (func $s1 (param i32) (result i32)))
      (import "" "a2" (func $a2 (param i32 i32) (result i32)))
      (import "" "s2" (func $s2 (param i32) (result i32)))
      (import "" "ticks" (func $ticks (result i32)))
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "new" (func $new (result i32)))
      (import "" "wsdrop" (func $wsdrop (param i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "drop" (func $drop (param i32)))
      (import "" "acancel" (func $acancel (param i32) (result i32)))
      (import "" "get0" (func $get0 (result i32)))
      (import "" "set0" (func $set0 (param i32)))
      ;; task record: +0 step, +4 acc, +8 head, +12 tail, +16 n, +20 set, +24 waited handle,
      ;; +32.. result slots, +64.. pending subtask handles
      (global $bump (mut i32) (i32.const 256))
      (func $fold (param $p i32) (param $v i32)
        (i32.store offset=4 (local.get $p) (i32.add
          (i32.mul (i32.load offset=4 (local.get $p)) (i32.const 3)) (local.get $v))))
      (func $oldest (param $p i32) (result i32)
        (i32.load offset=64 (i32.add (local.get $p)
          (i32.shl (i32.load offset=8 (local.get $p)) (i32.const 2)))))
      (func $wait_oldest (param $p i32) (result i32) (local $ws i32) (local $h i32)
        (local.set $h (call $oldest (local.get $p)))
        (local.set $ws (call $new))
        (call $join (local.get $h) (local.get $ws))
        (i32.store offset=20 (local.get $p) (local.get $ws))
        (i32.store offset=24 (local.get $p) (local.get $h))
        (i32.or (i32.shl (local.get $ws) (i32.const 4)) (i32.const 2)))
      (func $on_event (param $p i32) (param $ev i32) (param $h i32) (param $st i32)
        (if (i32.eqz (local.get $ev)) (then (return)))
        (if (i32.ne (local.get $ev) (i32.const 1)) (then unreachable))
        (if (i32.ne (local.get $h) (i32.load offset=24 (local.get $p))) (then unreachable))
        (call $fold (local.get $p) (i32.add (i32.mul (local.get $h) (i32.const 100))
          (local.get $st)))
        (call $join (local.get $h) (i32.const 0))
        (call $wsdrop (i32.load offset=20 (local.get $p)))
        (call $drop (local.get $h))
        (i32.store offset=8 (local.get $p) (i32.add (i32.load offset=8 (local.get $p))
          (i32.const 1))))
      (func $final (param $p i32) (result i32) (local $i i32) (local $acc i32)
        (local.set $acc (i32.load offset=4 (local.get $p)))
        (block $end (loop $l
          (br_if $end (i32.ge_u (local.get $i) (i32.const 10)))
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 5))
            (i32.load offset=32 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
        (i32.add (local.get $acc) (i32.mul (call $ticks) (i32.const 13))))
      (func $run0 (param $p i32) (result i32) (local $r i32) (local $h i32)
        (local $k i32)
        (loop $top
          (local.set $k (i32.load (local.get $p)))
          (i32.store (local.get $p) (i32.add (local.get $k) (i32.const 1)))
          (block $done
          (block $op9
          (block $op8
          (block $op7
          (block $op6
          (block $op5
          (block $op4
          (block $op3
          (block $op2
          (block $op1
          (block $op0
          (br_table $op0 $op1 $op2 $op3 $op4 $op5 $op6 $op7 $op8 $op9 $done
            (local.get $k)))
          ;; op 0: acancel 0
          (br_if $top (i32.ge_u (i32.load offset=8 (local.get $p))
            (i32.load offset=12 (local.get $p))))
          (local.set $h (call $oldest (local.get $p)))
          (local.set $r (call $acancel (local.get $h)))
          (call $fold (local.get $p) (i32.add (local.get $r) (i32.const 11)))
          (if (i32.ne (local.get $r) (i32.const -1)) (then
            (call $drop (local.get $h))
            (i32.store offset=8 (local.get $p) (i32.add (i32.load offset=8 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 1: acall 0
          (local.set $r (call $a0 (i32.add (i32.load offset=16 (local.get $p))
            (i32.const 1)) (i32.add (local.get $p) (i32.const 36))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 2: acall 2
          (local.set $r (call $a2 (i32.add (i32.load offset=16 (local.get $p))
            (i32.const 2)) (i32.add (local.get $p) (i32.const 40))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 3: acancel 0
          (br_if $top (i32.ge_u (i32.load offset=8 (local.get $p))
            (i32.load offset=12 (local.get $p))))
          (local.set $h (call $oldest (local.get $p)))
          (local.set $r (call $acancel (local.get $h)))
          (call $fold (local.get $p) (i32.add (local.get $r) (i32.const 11)))
          (if (i32.ne (local.get $r) (i32.const -1)) (then
            (call $drop (local.get $h))
            (i32.store offset=8 (local.get $p) (i32.add (i32.load offset=8 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 4: yield 0
          (return (i32.const 1)))
          ;; op 5: acall 1
          (local.set $r (call $a1 (i32.add (i32.load offset=16 (local.get $p))
            (i32.const 5)) (i32.add (local.get $p) (i32.const 52))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 6: acancel 0
          (br_if $top (i32.ge_u (i32.load offset=8 (local.get $p))
            (i32.load offset=12 (local.get $p))))
          (local.set $h (call $oldest (local.get $p)))
          (local.set $r (call $acancel (local.get $h)))
          (call $fold (local.get $p) (i32.add (local.get $r) (i32.const 11)))
          (if (i32.ne (local.get $r) (i32.const -1)) (then
            (call $drop (local.get $h))
            (i32.store offset=8 (local.get $p) (i32.add (i32.load offset=8 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 7: acall 2
          (local.set $r (call $a2 (i32.add (i32.load offset=16 (local.get $p))
            (i32.const 7)) (i32.add (local.get $p) (i32.const 60))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 8: wait 2
          (br_if $top (i32.ge_u (i32.load offset=8 (local.get $p))
            (i32.load offset=12 (local.get $p))))
          (return (call $wait_oldest (local.get $p))))
          ;; op 9: acall 0
          (local.set $r (call $a0 (i32.add (i32.load offset=16 (local.get $p))
            (i32.const 9)) (i32.add (local.get $p) (i32.const 68))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; done: wait for what is left, then return the folded value
          (if (i32.lt_u (i32.load offset=8 (local.get $p)) (i32.load offset=12 (local.get $p)))
            (then
              (i32.store (local.get $p) (local.get $k))
              (return (call $wait_oldest (local.get $p)))))
          (call $task.return (call $final (local.get $p)))
          (return (i32.const 0)))
        (unreachable))
      (func (export "r0") (param $n i32) (result i32) (local $p i32)
        (local.set $p (global.get $bump))
        (global.set $bump (i32.add (global.get $bump) (i32.const 128)))
        (i32.store offset=16 (local.get $p) (local.get $n))
        (call $set0 (local.get $p))
        (call $run0 (local.get $p)))
      (func (export "cb0") (param $ev i32) (param $h i32) (param $st i32) (result i32)
        (call $on_event (call $get0) (local.get $ev) (local.get $h) (local.get $st))
        (call $run0 (call $get0)))
      (func $run1 (param $p i32) (result i32) (local $r i32) (local $h i32)
        (local $k i32)
        (loop $top
          (local.set $k (i32.load (local.get $p)))
          (i32.store (local.get $p) (i32.add (local.get $k) (i32.const 1)))
          (block $done
          (block $op9
          (block $op8
          (block $op7
          (block $op6
          (block $op5
          (block $op4
          (block $op3
          (block $op2
          (block $op1
          (block $op0
          (br_table $op0 $op1 $op2 $op3 $op4 $op5 $op6 $op7 $op8 $op9 $done
            (local.get $k)))
          ;; op 0: yield 1
          (return (i32.const 1)))
          ;; op 1: acall 2
          (local.set $r (call $a2 (i32.add (i32.load offset=16 (local.get $p))
            (i32.const 1)) (i32.add (local.get $p) (i32.const 36))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 2: acall 2
          (local.set $r (call $a2 (i32.add (i32.load offset=16 (local.get $p))
            (i32.const 2)) (i32.add (local.get $p) (i32.const 40))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 3: acall 2
          (local.set $r (call $a2 (i32.add (i32.load offset=16 (local.get $p))
            (i32.const 3)) (i32.add (local.get $p) (i32.const 44))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 4: yield 1
          (return (i32.const 1)))
          ;; op 5: acancel 1
          (br_if $top (i32.ge_u (i32.load offset=8 (local.get $p))
            (i32.load offset=12 (local.get $p))))
          (local.set $h (call $oldest (local.get $p)))
          (local.set $r (call $acancel (local.get $h)))
          (call $fold (local.get $p) (i32.add (local.get $r) (i32.const 11)))
          (if (i32.ne (local.get $r) (i32.const -1)) (then
            (call $drop (local.get $h))
            (i32.store offset=8 (local.get $p) (i32.add (i32.load offset=8 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; op 6: scall 2
          (call $fold (local.get $p) (call $s2 (i32.add
            (i32.load offset=16 (local.get $p)) (i32.const 6))))
          (br $top))
          ;; op 7: scall 1
          (call $fold (local.get $p) (call $s1 (i32.add
            (i32.load offset=16 (local.get $p)) (i32.const 7))))
          (br $top))
          ;; op 8: wait 0
          (br_if $top (i32.ge_u (i32.load offset=8 (local.get $p))
            (i32.load offset=12 (local.get $p))))
          (return (call $wait_oldest (local.get $p))))
          ;; op 9: acall 2
          (local.set $r (call $a2 (i32.add (i32.load offset=16 (local.get $p))
            (i32.const 9)) (i32.add (local.get $p) (i32.const 68))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top))
          ;; done: wait for what is left, then return the folded value
          (if (i32.lt_u (i32.load offset=8 (local.get $p)) (i32.load offset=12 (local.get $p)))
            (then
              (i32.store (local.get $p) (local.get $k))
              (return (call $wait_oldest (local.get $p)))))
          (call $task.return (call $final (local.get $p)))
          (return (i32.const 0)))
        (unreachable))
      (func (export "r1") (param $n i32) (result i32) (local $p i32)
        (local.set $p (global.get $bump))
        (global.set $bump (i32.add (global.get $bump) (i32.const 128)))
        (i32.store offset=16 (local.get $p) (local.get $n))
        (call $set0 (local.get $p))
        (call $run1 (local.get $p)))
      (func (export "cb1") (param $ev i32) (param $h i32) (param $st i32) (result i32)
        (call $on_event (call $get0) (local.get $ev) (local.get $h) (local.get $st))
        (call $run1 (call $get0))))
    (core instance $m (instantiate $M (with "" (instance
      (export "mem" (memory $mem "mem")) (export "a0" (func $a0)) (export "s0" (func $s0)) (export "a1" (func $a1)) (export "s1" (func $s1)) (export "a2" (func $a2)) (export "s2" (func $s2)) (export "ticks" (func $ticks))
      (export "task.return" (func $task.return))
      (export "new" (func $new)) (export "wsdrop" (func $wsdrop)) (export "join" (func $join))
      (export "drop" (func $drop)) (export "acancel" (func $acancel))
      (export "get0" (func $get0)) (export "set0" (func $set0))))))
    (func (export "r0") async (param "n" u32) (result u32)
      (canon lift (core func $m "r0") async (callback (core func $m "cb0"))))
    (func (export "r1") async (param "n" u32) (result u32)
      (canon lift (core func $m "r1") async (callback (core func $m "cb1")))))
  (instance $c (instantiate $C))
  (instance $b (instantiate $B (with "c" (instance $c))))
  (instance $r (instantiate $R (with "c" (instance (export "e0" (func $c "e0")) (export "e1" (func $c "e1")) (export "e2" (func $b "b0")) (export "ticks" (func $c "ticks"))))))
  (export "r0" (func $r "r0"))
  (export "r1" (func $r "r1")))
(assert_return (invoke "r0" (u32.const 1)) (u32.const 2214568234))
(assert_return (invoke "r1" (u32.const 1)) (u32.const 3586986416))
(assert_return (invoke "r0" (u32.const 5)) (u32.const 889911395))
(assert_return (invoke "r1" (u32.const 5)) (u32.const 440621510))
(assert_return (invoke "r0" (u32.const 9)) (u32.const 2847520344))
(assert_return (invoke "r1" (u32.const 9)) (u32.const 3077624402))
