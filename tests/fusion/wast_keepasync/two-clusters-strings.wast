;;! component_model_async = true
;; Two clusters: $B calls $A's export, which $A lifts `async` with a callback (refused inside one
;; fused module), through a sync lower with strings both ways. The kept boundary must lower with
;; $B's memory/realloc and lift with $A's, as the original did; a trap in $A reaches the caller.
;; $A's callback holds a `thread.yield` (in an instance the host calls, not fused beside
;; in-module tasks: that keeps the boundary; it never runs).

(component
  (component $A
    (core module $libc
      (memory (export "memory") 1)
      (global $next (mut i32) (i32.const 1024))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $r i32)
        (local.set $r (global.get $next))
        (global.set $next (i32.add (global.get $next) (local.get 3)))
        (local.get $r)))
    (core instance $libc (instantiate $libc))
    (core func $yield (canon thread.yield))
    (core func $tr (canon task.return (result string) (memory (core memory $libc "memory"))))
    (core module $m
      (import "" "memory" (memory 1))
      (import "" "tr" (func $tr (param i32 i32)))
      (import "" "yield" (func $yield (result i32)))
      (func (export "shout") (param $p i32) (param $n i32) (result i32)
        (local $i i32) (local $c i32)
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
            (if (i32.lt_u (local.get $c) (i32.const 97)) (then unreachable))
            (i32.store8 (i32.add (local.get $p) (local.get $i)) (i32.sub (local.get $c) (i32.const 32)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (call $tr (local.get $p) (local.get $n))
        (i32.const 0))  ;; EXIT
      (func (export "cb") (param i32 i32 i32) (result i32)
        (drop (call $yield)) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "memory" (memory $libc "memory"))
      (export "tr" (func $tr)) (export "yield" (func $yield))))))
    (func (export "shout") async (param "s" string) (result string)
      (canon lift (core func $i "shout") async (memory (core memory $libc "memory"))
        (realloc (core func $libc "realloc")) (callback (core func $i "cb")))))
  (component $B
    (import "shout" (func $shout async (param "s" string) (result string)))
    (core module $libc
      (memory (export "memory") 1)
      (global $next (mut i32) (i32.const 2048))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $r i32)
        (local.set $r (global.get $next))
        (global.set $next (i32.add (global.get $next) (local.get 3)))
        (local.get $r)))
    (core instance $libc (instantiate $libc))
    (core func $shout (canon lower (func $shout) (memory (core memory $libc "memory"))
      (realloc (core func $libc "realloc"))))
    (core module $m
      (import "" "memory" (memory 1))
      (import "" "shout" (func $shout (param i32 i32 i32)))
      (func (export "loud") (param $p i32) (param $n i32) (result i32)
        (call $shout (local.get $p) (local.get $n) (i32.const 16))
        (i32.const 16)))
    (core instance $i (instantiate $m (with "" (instance
      (export "memory" (memory $libc "memory"))
      (export "shout" (func $shout))))))
    (func (export "loud") (param "s" string) (result string)
      (canon lift (core func $i "loud") (memory (core memory $libc "memory"))
        (realloc (core func $libc "realloc")))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "shout" (func $a "shout"))))
  (export "loud" (func $b "loud"))
  (export "shout" (func $a "shout"))
)
(assert_return (invoke "loud" (str.const "abc")) (str.const "ABC"))
(assert_return (invoke "loud" (str.const "")) (str.const ""))
(assert_return (invoke "shout" (str.const "xy")) (str.const "XY"))
(assert_trap (invoke "loud" (str.const "aB")) "unreachable")
