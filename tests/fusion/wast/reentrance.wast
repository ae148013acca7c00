;; Synchronous re-entrance between component instances. wasmtime (the oracle) checks none: a
;; parent calling its child, which calls back into the parent, which (through a table the
;; parent filled later) calls the child again, all return normally, although the spec's
;; `may_enter` would trap (component-model test/async/trap-on-reenter.wast: "for now"). Only an
;; instance lowering its own lift traps ("cannot enter component instance"), at the call.

;; parent -> child -> parent
(component
  (core module $m1 (func (export "f") (result i32) (i32.const 11)))
  (core instance $i1 (instantiate $m1))
  (func $f (result u32) (canon lift (core func $i1 "f")))
  (component $C
    (import "f" (func $f (result u32)))
    (core func $fl (canon lower (func $f)))
    (core module $m
      (import "" "f" (func $f (result i32)))
      (func (export "g") (result i32) (i32.add (call $f) (i32.const 100))))
    (core instance $i (instantiate $m (with "" (instance (export "f" (func $fl))))))
    (func (export "g") (result u32) (canon lift (core func $i "g"))))
  (instance $c (instantiate $C (with "f" (func $f))))
  (core func $gl (canon lower (func $c "g")))
  (core module $m2
    (import "" "g" (func $g (result i32)))
    (func (export "run") (result i32) (call $g)))
  (core instance $i2 (instantiate $m2 (with "" (instance (export "g" (func $gl))))))
  (func (export "run") (result u32) (canon lift (core func $i2 "run")))
  (export "g" (func $c "g")))
(assert_return (invoke "run") (u32.const 111))
(assert_return (invoke "g") (u32.const 111))

;; parent -> child -> parent -> child (the child is entered while it is on the stack)
(component
  (core module $m1
    (table (export "t") 1 funcref)
    (type $ft (func (result i32)))
    (global $depth (mut i32) (i32.const 0))
    (func (export "f") (result i32)
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (if (result i32) (i32.lt_u (global.get $depth) (i32.const 2))
        (then (call_indirect (type $ft) (i32.const 0)))
        (else (i32.const 11)))))
  (core instance $i1 (instantiate $m1))
  (func $f (result u32) (canon lift (core func $i1 "f")))
  (component $C
    (import "f" (func $f (result u32)))
    (core func $fl (canon lower (func $f)))
    (core module $m
      (import "" "f" (func $f (result i32)))
      (func (export "g") (result i32) (i32.add (call $f) (i32.const 100))))
    (core instance $i (instantiate $m (with "" (instance (export "f" (func $fl))))))
    (func (export "g") (result u32) (canon lift (core func $i "g"))))
  (instance $c (instantiate $C (with "f" (func $f))))
  (core func $gl (canon lower (func $c "g")))
  (core module $m2
    (import "" "g" (func $g (result i32)))
    (import "" "t" (table 1 funcref))
    (elem (i32.const 0) func $g)
    (func (export "run") (result i32) (call $g)))
  (core instance $i2 (instantiate $m2
    (with "" (instance (export "g" (func $gl)) (export "t" (table $i1 "t"))))))
  (func (export "run") (result u32) (canon lift (core func $i2 "run"))))
(assert_return (invoke "run") (u32.const 211))

;; an instance calling its own lifted export traps when it calls, not before
(component
  (core module $m
    (func (export "one") (result i32) (i32.const 1)))
  (core instance $i (instantiate $m))
  (func $one (result u32) (canon lift (core func $i "one")))
  (core func $self (canon lower (func $one)))
  (core module $m2
    (import "" "self" (func $self (result i32)))
    (func (export "ok") (result i32) (i32.const 5))
    (func (export "bad") (result i32) (call $self)))
  (core instance $i2 (instantiate $m2 (with "" (instance (export "self" (func $self))))))
  (func (export "ok") (result u32) (canon lift (core func $i2 "ok")))
  (func (export "bad") (result u32) (canon lift (core func $i2 "bad"))))
(assert_return (invoke "ok") (u32.const 5))
(assert_trap (invoke "bad") "cannot enter component instance")
