;;! component_model_async = true
;; Start functions keep their order: $C (a sync helper) and $B (async) each have a start
;; function, and $A (a callback-lifted root export) calls $C (sync: fusable) and $B (async: kept,
;; the host calls $B's export too, and a `thread.yield` in an instance the host calls is not
;; fused). Joining $A with $C would instantiate that cluster after $B's, running $C's
;; start after $B's (the original runs $C, $B, $A), so the join is refused and there are three
;; clusters: $C, $B, $A.

(component
  (component $C
    (core module $m
      (global $base (mut i32) (i32.const 0))
      (func $init (global.set $base (i32.const 1000)))
      (start $init)
      (func (export "add-base") (param i32) (result i32) (i32.add (local.get 0) (global.get $base))))
    (core instance $i (instantiate $m))
    (func (export "add-base") (param "x" u32) (result u32) (canon lift (core func $i "add-base"))))
  (component $B
    (core func $tr (canon task.return (result u32)))
    (core func $yield (canon thread.yield))
    (core module $m
      (import "" "tr" (func $tr (param i32)))
      (import "" "yield" (func $yield (result i32)))
      (global $k (mut i32) (i32.const 0))
      (func $init (global.set $k (i32.const 7)))
      (start $init)
      (func (export "g") (param i32) (result i32)
        (if (i32.eq (local.get 0) (i32.const 7777))  ;; never taken here
          (then (drop (call $yield))))
        (call $tr (i32.mul (local.get 0) (global.get $k))) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "tr" (func $tr)) (export "yield" (func $yield))))))
    (func (export "g") async (param "x" u32) (result u32)
      (canon lift (core func $i "g") async (callback (core func $i "cb")))))
  (component $A
    (import "add-base" (func $add (param "x" u32) (result u32)))
    (import "g" (func $g async (param "x" u32) (result u32)))
    (core func $add (canon lower (func $add)))
    (core func $g (canon lower (func $g)))
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "add" (func $add (param i32) (result i32)))
      (import "" "g" (func $g (param i32) (result i32)))
      (import "" "tr" (func $tr (param i32)))
      (func (export "run") (param i32) (result i32)
        (call $tr (call $add (call $g (local.get 0))))
        (i32.const 0))  ;; EXIT
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "add" (func $add)) (export "g" (func $g)) (export "tr" (func $tr))))))
    (func (export "run") async (param "x" u32) (result u32)
      (canon lift (core func $i "run") async (callback (core func $i "cb")))))
  (instance $c (instantiate $C))
  (instance $b (instantiate $B))
  (instance $a (instantiate $A (with "add-base" (func $c "add-base")) (with "g" (func $b "g"))))
  (export "run" (func $a "run"))
  (export "g" (func $b "g"))
)
(assert_return (invoke "run" (u32.const 3)) (u32.const 1021))
(assert_return (invoke "g" (u32.const 3)) (u32.const 21))
