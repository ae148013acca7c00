;;! component_model_async = true
;; A resource type crossing a kept boundary: $A defines `r` and lifts `ping` async, taking a
;; borrow of `r`; $B makes, borrows and drops `r`'s handles through sync calls, and holds a
;; `thread.yield` (it never runs) in a root instance that also lifts an export with a callback
;; (`idle`: such a yield is not fused beside in-module tasks, which keeps the boundary; without
;; it the case fuses, see
;; wast_async_task_resources/borrow-to-definer-sync-lower.wast). $A's cluster exports the type, $B's imports it; handle numbers
;; (observable in the result, reused after drops) are the runtime's, as in the original, and
;; each drop in $B runs $A's destructor.

(component
  (component $A
    (core module $dm
      (global (export "drops") (mut i32) (i32.const 0))
      (func (export "dtor") (param i32) (global.set 0 (i32.add (global.get 0) (i32.const 1)))))
    (core instance $d (instantiate $dm))
    (type $r (resource (rep i32) (dtor (func $d "dtor"))))
    (core func $new (canon resource.new $r))
    (core func $rep (canon resource.rep $r))  ;; unused: kept to stay importable
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "new" (func $new (param i32) (result i32)))
      (import "" "rep" (func $rep (param i32) (result i32)))
      (import "" "tr" (func $tr (param i32)))
      (import "" "drops" (global $drops (mut i32)))
      (func (export "make") (param i32) (result i32) (call $new (local.get 0)))
      (func (export "get") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 100)))  ;; a borrow of its own type: the rep
      (func (export "ping") (param i32 i32) (result i32) (call $tr (i32.add (i32.add (local.get 1) (i32.const 1)) (i32.mul (global.get $drops) (i32.const 1000)))) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "new" (func $new)) (export "rep" (func $rep)) (export "tr" (func $tr))
      (export "drops" (global $d "drops"))))))
    (export $r2 "r" (type $r))
    (func (export "make") (param "x" u32) (result (own $r2)) (canon lift (core func $i "make")))
    (func (export "get") (param "h" (borrow $r2)) (result u32) (canon lift (core func $i "get")))
    (func (export "ping") async (param "h" (borrow $r2)) (param "x" u32) (result u32)
      (canon lift (core func $i "ping") async (callback (core func $i "cb")))))
  (component $B
    (import "a" (instance $a
      (export "r" (type $r (sub resource)))
      (export "make" (func (param "x" u32) (result (own $r))))
      (export "get" (func (param "h" (borrow $r)) (result u32)))
      (export "ping" (func async (param "h" (borrow $r)) (param "x" u32) (result u32)))))
    (alias export $a "r" (type $r))
    (core func $make (canon lower (func $a "make")))
    (core func $get (canon lower (func $a "get")))
    (core func $ping (canon lower (func $a "ping")))
    (core func $drop (canon resource.drop $r))
    (core func $yield (canon thread.yield))
    (core func $tr (canon task.return))
    (core module $m
      (import "" "make" (func $make (param i32) (result i32)))
      (import "" "tr" (func $tr))
      (import "" "get" (func $get (param i32) (result i32)))
      (import "" "ping" (func $ping (param i32 i32) (result i32)))
      (import "" "drop" (func $drop (param i32)))
      (import "" "yield" (func $yield (result i32)))
      (func (export "run") (param i32) (result i32)
        (local $h i32) (local $h2 i32) (local $v i32)
        (if (i32.eq (local.get 0) (i32.const -1)) (then (drop (call $yield))))
        (local.set $h (call $make (local.get 0)))
        (local.set $h2 (call $make (i32.add (local.get 0) (i32.const 1))))
        (local.set $v (call $get (local.get $h2)))
        (call $drop (local.get $h))
        (local.set $v (i32.add (local.get $v) (call $get (local.get $h2))))
        (local.set $v (i32.add (local.get $v) (call $ping (local.get $h2) (local.get 0))))
        (call $drop (local.get $h2))
        (i32.add (i32.mul (local.get $v) (i32.const 10)) (local.get $h2)))
      (func (export "idle") (result i32) (call $tr) (i32.const 0))
      (func (export "idle-cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "make" (func $make)) (export "get" (func $get)) (export "ping" (func $ping)) (export "drop" (func $drop))
      (export "yield" (func $yield)) (export "tr" (func $tr))))))
    (func (export "run") (param "x" u32) (result u32) (canon lift (core func $i "run")))
    (func (export "idle") async
      (canon lift (core func $i "idle") async (callback (core func $i "idle-cb")))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "a" (instance $a))))
  (export "run" (func $b "run"))
  (export "idle" (func $b "idle")))
(assert_return (invoke "run" (u32.const 3)) (u32.const 18042))  ;; ping sees the first destructor run
(assert_return (invoke "run" (u32.const 0)) (u32.const 32011))  ;; freed handles reused LIFO
(assert_return (invoke "idle"))
