;;! component_model_async = true
;; A chain $A -> $B (async) -> $C (sync): $A's callback-lifted root export calls $B's
;; callback-lifted `async func` through a sync lower (a kept boundary: the host calls $B's
;; export too, and a `thread.yield` in an instance the host calls is not fused), while $B
;; calls the sync helper $C through an ordinary fused adapter, so $B and $C are one cluster
;; beside $A's: two clusters, a sync edge inside one.

(component
  (component $C
    (core module $m
      (func (export "double") (param i32) (result i32)
        (if (i32.gt_u (local.get 0) (i32.const 1000)) (then unreachable))
        (i32.mul (local.get 0) (i32.const 2))))
    (core instance $i (instantiate $m))
    (func (export "double") (param "x" u32) (result u32) (canon lift (core func $i "double"))))
  (component $B
    (import "double" (func $double (param "x" u32) (result u32)))
    (core func $double (canon lower (func $double)))
    (core func $tr (canon task.return (result u32)))
    (core func $yield (canon thread.yield))
    (core module $m
      (import "" "double" (func $double (param i32) (result i32)))
      (import "" "tr" (func $tr (param i32)))
      (import "" "yield" (func $yield (result i32)))
      (func (export "f") (param i32) (result i32)
        (if (i32.eq (local.get 0) (i32.const 7777))  ;; never taken here
          (then (drop (call $yield))))
        (call $tr (i32.add (call $double (local.get 0)) (i32.const 1)))
        (i32.const 0))  ;; EXIT
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "double" (func $double)) (export "tr" (func $tr)) (export "yield" (func $yield))))))
    (func (export "f") async (param "x" u32) (result u32)
      (canon lift (core func $i "f") async (callback (core func $i "cb")))))
  (component $A
    (import "f" (func $f async (param "x" u32) (result u32)))
    (core func $f (canon lower (func $f)))
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "f" (func $f (param i32) (result i32)))
      (import "" "tr" (func $tr (param i32)))
      (func (export "run") (param i32) (result i32)
        (call $tr (i32.mul (call $f (local.get 0)) (i32.const 10)))
        (i32.const 0))  ;; EXIT
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "f" (func $f)) (export "tr" (func $tr))))))
    (func (export "run") async (param "x" u32) (result u32)
      (canon lift (core func $i "run") async (callback (core func $i "cb")))))
  (instance $c (instantiate $C))
  (instance $b (instantiate $B (with "double" (func $c "double"))))
  (instance $a (instantiate $A (with "f" (func $b "f"))))
  (export "run" (func $a "run"))
  (export "f" (func $b "f"))
)
(assert_return (invoke "run" (u32.const 3)) (u32.const 70))
(assert_return (invoke "run" (u32.const 0)) (u32.const 10))
(assert_return (invoke "f" (u32.const 3)) (u32.const 7))
(assert_trap (invoke "run" (u32.const 5000)) "unreachable")
