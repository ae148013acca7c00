;;! component_model_async = true
;; Three clusters: $B and $C each lift an `async func` with a callback (two async instances, and
;; async lifts between instances: refused inside one module); $B calls $C, the root instance $A
;; calls both, all through sync lowers. Instantiation order of the clusters: $C, $B, $A. $C's
;; callback holds a `thread.yield` (in an instance the host calls, not fused beside in-module
;; tasks: that keeps its boundaries; it never runs). Since synchronous calls of host `async
;; func`s are fused beside in-module tasks (merge.asynchostsync), $A and $B make one cluster:
;; $B's call of $C's `g` is such a call seen from it. Two clusters, then.

(component
  (component $C
    (core func $yield (canon thread.yield))
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "tr" (func $tr (param i32)))
      (import "" "yield" (func $yield (result i32)))
      (global $calls (mut i32) (i32.const 0))
      (func (export "g") (param i32) (result i32)
        (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (call $tr (i32.add (i32.mul (local.get 0) (i32.const 100)) (global.get $calls)))
        (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32)
        (drop (call $yield)) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "tr" (func $tr)) (export "yield" (func $yield))))))
    (func (export "g") async (param "x" u32) (result u32)
      (canon lift (core func $i "g") async (callback (core func $i "cb")))))
  (component $B
    (import "g" (func $g async (param "x" u32) (result u32)))
    (core func $g (canon lower (func $g)))
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "g" (func $g (param i32) (result i32)))
      (import "" "tr" (func $tr (param i32)))
      (func (export "f") (param i32) (result i32)
        (call $tr (i32.add (call $g (local.get 0)) (i32.const 7)))
        (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "g" (func $g)) (export "tr" (func $tr))))))
    (func (export "f") async (param "x" u32) (result u32)
      (canon lift (core func $i "f") async (callback (core func $i "cb")))))
  (component $A
    (import "f" (func $f async (param "x" u32) (result u32)))
    (import "g" (func $g async (param "x" u32) (result u32)))
    (core func $f (canon lower (func $f)))
    (core func $g (canon lower (func $g)))
    (core module $m
      (import "" "f" (func $f (param i32) (result i32)))
      (import "" "g" (func $g (param i32) (result i32)))
      (func (export "both") (param i32) (result i32)
        (i32.add (i32.mul (call $f (local.get 0)) (i32.const 1000)) (call $g (local.get 0)))))
    (core instance $i (instantiate $m (with "" (instance
      (export "f" (func $f)) (export "g" (func $g))))))
    (func (export "both") (param "x" u32) (result u32) (canon lift (core func $i "both"))))
  (instance $c (instantiate $C))
  (instance $b (instantiate $B (with "g" (func $c "g"))))
  (instance $a (instantiate $A (with "f" (func $b "f")) (with "g" (func $c "g"))))
  (export "both" (func $a "both"))
  (export "g" (func $c "g"))
)
;; f(x) = g(x) + 7 (C's 1st call), then g(x) (C's 2nd call)
(assert_return (invoke "both" (u32.const 2)) (u32.const 208202))
(assert_return (invoke "g" (u32.const 1)) (u32.const 103))
(assert_return (invoke "both" (u32.const 0)) (u32.const 11005))
