;; bench case "resource-method": caller -> callee, resource counter defined by the callee
;;   resource counter { constructor(init: u32); add: func(x: u32) -> u32 }
;; The caller creates one counter (own handle in its table), calls [method]counter.add on a
;; borrow of it n times, then drops it (the callee's destructor runs). Per call the runtime /
;; adapter lifts the caller's borrow handle to the callee's rep (a borrow of a resource the
;; callee defines arrives as the rep itself); no memory, no realloc.
;; run(n):  c = counter(7); acc = 0
;;          for i in 0..n: acc += c.add(i)                                   (acc: u64)
;;          add(x): state = state * 3 + x; return state                      (u32, wrapping)
;;          drop(c); acc += dropped_rep (the callee's dtor records the rep it got)
(component
  ;; ------------------------------------------------------------------ callee
  (component $callee
    ;; the dtor lives in a small module instantiated first (breaks the type/dtor cycle);
    ;; it shares the "dropped" global with the main module.
    (core module $dtor-m
      (global (export "dropped") (mut i32) (i32.const 0))
      (func (export "dtor") (param $rep i32) (global.set 0 (local.get $rep))))
    (core instance $dtor-i (instantiate $dtor-m))
    (type $counter (resource (rep i32) (dtor (core func $dtor-i "dtor"))))
    (core func $new (canon resource.new $counter))
    (core module $m
      (import "r" "new" (func $new (param i32) (result i32)))
      (import "r" "dropped" (global $dropped (mut i32)))
      (memory (export "memory") 1)
      (global $next (mut i32) (i32.const 16))
      ;; rep = address of the counter state in this module's memory
      (func (export "ctor") (param $init i32) (result i32)
        (local $rep i32)
        (local.set $rep (global.get $next))
        (global.set $next (i32.add (global.get $next) (i32.const 4)))
        (i32.store (local.get $rep) (local.get $init))
        (call $new (local.get $rep)))
      (func (export "add") (param $rep i32) (param $x i32) (result i32)
        (local $s i32)
        (local.set $s (i32.add (i32.mul (i32.load (local.get $rep)) (i32.const 3)) (local.get $x)))
        (i32.store (local.get $rep) (local.get $s))
        (local.get $s))
      (func (export "dropped") (result i32) (global.get $dropped)))
    (core instance $ri (export "new" (func $new)) (export "dropped" (global $dtor-i "dropped")))
    (core instance $i (instantiate $m (with "r" (instance $ri))))
    ;; exported at the top level (the instance of this component is the interface instance):
    ;; the function types must name the exported resource type
    (export $counter' "counter" (type $counter))
    (func (export "[constructor]counter") (param "init" u32) (result (own $counter'))
      (canon lift (core func $i "ctor")))
    (func (export "[method]counter.add") (param "self" (borrow $counter')) (param "x" u32) (result u32)
      (canon lift (core func $i "add")))
    (func (export "dropped") (result u32) (canon lift (core func $i "dropped"))))

  ;; ------------------------------------------------------------------ caller
  (component $caller
    (import "bench:resources/api" (instance $api
      (export "counter" (type $c (sub resource)))
      (export "[constructor]counter" (func (param "init" u32) (result (own $c))))
      (export "[method]counter.add" (func (param "self" (borrow $c)) (param "x" u32) (result u32)))
      (export "dropped" (func (result u32)))))
    (alias export $api "counter" (type $counter))
    (core func $ctor (canon lower (func $api "[constructor]counter")))
    (core func $add (canon lower (func $api "[method]counter.add")))
    (core func $dropped (canon lower (func $api "dropped")))
    (core func $drop (canon resource.drop $counter))
    (core instance $env
      (export "ctor" (func $ctor)) (export "add" (func $add))
      (export "dropped" (func $dropped)) (export "drop" (func $drop)))
    (core module $m
      (import "env" "ctor" (func $ctor (param i32) (result i32)))
      (import "env" "add" (func $add (param i32 i32) (result i32)))
      (import "env" "dropped" (func $dropped (result i32)))
      (import "env" "drop" (func $drop (param i32)))
      (func (export "run") (param $n i32) (result i64)
        (local $h i32) (local $i i32) (local $acc i64)
        (local.set $h (call $ctor (i32.const 7)))
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $acc (i64.add (local.get $acc)
              (i64.extend_i32_u (call $add (local.get $h) (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (call $drop (local.get $h))
        (i64.add (local.get $acc) (i64.extend_i32_u (call $dropped)))))
    (core instance $i (instantiate $m (with "env" (instance $env))))
    (func (export "run") (param "n" u32) (result u64)
      (canon lift (core func $i "run"))))

  ;; ------------------------------------------------------------------ wiring
  (instance $callee-i (instantiate $callee))
  (instance $caller-i (instantiate $caller
    (with "bench:resources/api" (instance $callee-i))))
  (export "run" (func $caller-i "run")))
