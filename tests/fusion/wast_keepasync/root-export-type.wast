;;! component_model_async = true
;; A root export type and a root export function of one cluster using it ($B), beside an export
;; of the other cluster ($A, async): the type goes with the cluster whose exports use it, and
;; the outer component re-states `g`'s type with the `p` it exports itself. $A's callback holds
;; a `thread.yield` (in an instance the host calls, not fused beside in-module tasks: that keeps
;; the boundary; it never runs).

(component
  (component $A
    (core func $yield (canon thread.yield))
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "tr" (func $tr (param i32)))
      (import "" "yield" (func $yield (result i32)))
      (func (export "f") (param i32) (result i32) (call $tr (local.get 0)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32)
        (drop (call $yield)) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "tr" (func $tr)) (export "yield" (func $yield))))))
    (func (export "f") async (param "x" u32) (result u32)
      (canon lift (core func $i "f") async (callback (core func $i "cb")))))
  (component $B
    (import "f" (func $f async (param "x" u32) (result u32)))
    (type $p (record (field "a" u32) (field "b" u32)))
    (export $p2 "p" (type $p))
    (core func $f (canon lower (func $f)))
    (core module $m
      (import "" "f" (func $f (param i32) (result i32)))
      (func (export "g") (param i32 i32) (result i32) (i32.add (call $f (local.get 0)) (local.get 1))))
    (core instance $i (instantiate $m (with "" (instance (export "f" (func $f))))))
    (func (export "g") (param "x" $p2) (result u32) (canon lift (core func $i "g"))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "f" (func $a "f"))))
  (export $pp "p" (type $b "p"))
  (export "f" (func $a "f"))
  (export "g" (func $b "g") (func (param "x" $pp) (result u32))))
(assert_return (invoke "g" (record.const (field "a" u32.const 3) (field "b" u32.const 4))) (u32.const 7))
(assert_return (invoke "f" (u32.const 9)) (u32.const 9))
