(component
  (component $C
    (core module $m (func (export "ping")))
    (core instance $i (instantiate $m))
    (func (export "ping") (canon lift (core func $i "ping"))))
  (instance $c (instantiate $C))
  (component $B
    (import "ping" (func $ping))
    (core func $ping (canon lower (func $ping)))
    (core module $m
      (import "" "ping" (func $ping))
      (memory (export "mem") 1)
      (global $calls (mut i32) (i32.const 0))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (if (global.get $calls) (then call $ping))
        i32.const 64)
      (func (export "arm") (global.set $calls (i32.const 1)))
      (func (export "take") (param i32 i32) (result i32) local.get 1))
    (core instance $i (instantiate $m (with "" (instance (export "ping" (func $ping))))))
    (func (export "take") (param "s" string) (result u32)
      (canon lift (core func $i "take") (memory $i "mem") (realloc (func $i "realloc"))))
    (func (export "arm") (canon lift (core func $i "arm"))))
  (instance $b (instantiate $B (with "ping" (func $c "ping"))))
  (component $A
    (import "take" (func $take (param "s" string) (result u32)))
    (core module $mem (memory (export "mem") 1) (data (i32.const 0) "hello"))
    (core instance $mi (instantiate $mem))
    (core func $take (canon lower (func $take) (memory $mi "mem")))
    (core module $m (import "" "take" (func $take (param i32 i32) (result i32)))
      (func (export "run") (result i32) i32.const 0 i32.const 5 call $take))
    (core instance $i (instantiate $m (with "" (instance (export "take" (func $take))))))
    (func (export "run") (result u32) (canon lift (core func $i "run"))))
  (instance $a (instantiate $A (with "take" (func $b "take"))))
  (export "run" (func $a "run"))
  (export "arm" (func $b "arm")))
(assert_return (invoke "run") (u32.const 5))
(assert_return (invoke "arm"))
(assert_trap (invoke "run") "cannot leave component instance")

;; wasmtime's adapters run post-return without clearing may-leave: calling out works there
(component
  (component $C
    (core module $m (func (export "ping")))
    (core instance $i (instantiate $m))
    (func (export "ping") (canon lift (core func $i "ping"))))
  (instance $c (instantiate $C))
  (component $B
    (import "ping" (func $ping))
    (core func $ping (canon lower (func $ping)))
    (core module $m
      (import "" "ping" (func $ping))
      (global $armed (mut i32) (i32.const 0))
      (func (export "get") (result i32) i32.const 7)
      (func (export "post") (param i32) (if (global.get $armed) (then call $ping)))
      (func (export "arm") (global.set $armed (i32.const 1))))
    (core instance $i (instantiate $m (with "" (instance (export "ping" (func $ping))))))
    (func (export "get") (result u32)
      (canon lift (core func $i "get") (post-return (func $i "post"))))
    (func (export "arm") (canon lift (core func $i "arm"))))
  (instance $b (instantiate $B (with "ping" (func $c "ping"))))
  (component $A
    (import "get" (func $get (result u32)))
    (core func $get (canon lower (func $get)))
    (core module $m (import "" "get" (func $get (result i32)))
      (func (export "run") (result i32) call $get))
    (core instance $i (instantiate $m (with "" (instance (export "get" (func $get))))))
    (func (export "run") (result u32) (canon lift (core func $i "run"))))
  (instance $a (instantiate $A (with "get" (func $b "get"))))
  (export "run" (func $a "run"))
  (export "arm" (func $b "arm")))
(assert_return (invoke "run") (u32.const 7))
(assert_return (invoke "arm"))
(assert_return (invoke "run") (u32.const 7))

;; the host runs a root export's post-return with may-leave clear (`call_post_return`): calling
;; out traps there, also into a component fused into the same module
(component
  (component $C
    (core module $m (func (export "ping")))
    (core instance $i (instantiate $m))
    (func (export "ping") (canon lift (core func $i "ping"))))
  (instance $c (instantiate $C))
  (component $B
    (import "ping" (func $ping))
    (core func $ping (canon lower (func $ping)))
    (core module $m
      (import "" "ping" (func $ping))
      (global $armed (mut i32) (i32.const 0))
      (func (export "get") (result i32) i32.const 7)
      (func (export "post") (param i32) (if (global.get $armed) (then call $ping)))
      (func (export "arm") (global.set $armed (i32.const 1))))
    (core instance $i (instantiate $m (with "" (instance (export "ping" (func $ping))))))
    (func (export "get") (result u32)
      (canon lift (core func $i "get") (post-return (func $i "post"))))
    (func (export "arm") (canon lift (core func $i "arm"))))
  (instance $b (instantiate $B (with "ping" (func $c "ping"))))
  (export "get" (func $b "get"))
  (export "arm" (func $b "arm")))
(assert_return (invoke "get") (u32.const 7))
(assert_return (invoke "arm"))
(assert_trap (invoke "get") "cannot leave component instance")

;; a root export's realloc calling into another component while the host lowers a string
(component
  (component $C
    (core module $m (func (export "ping")))
    (core instance $i (instantiate $m))
    (func (export "ping") (canon lift (core func $i "ping"))))
  (instance $c (instantiate $C))
  (component $B
    (import "ping" (func $ping))
    (core func $ping (canon lower (func $ping)))
    (core module $m
      (import "" "ping" (func $ping))
      (memory (export "mem") 1)
      (func (export "realloc") (param i32 i32 i32 i32) (result i32) call $ping i32.const 64)
      (func (export "take") (param i32 i32) (result i32) local.get 1))
    (core instance $i (instantiate $m (with "" (instance (export "ping" (func $ping))))))
    (func (export "take") (param "s" string) (result u32)
      (canon lift (core func $i "take") (memory $i "mem") (realloc (func $i "realloc")))))
  (instance $b (instantiate $B (with "ping" (func $c "ping"))))
  (export "take" (func $b "take")))
(assert_trap (invoke "take" (str.const "hi")) "cannot leave component instance")

;; a wit-component shim: the realloc reaches `ping` only through a constant slot of a table
;; another instance fills (checked, so it traps once armed); `pong`, which no realloc reaches,
;; needs no check and works all along
(component
  (component $C
    (core module $m (func (export "ping")) (func (export "pong") (result i32) i32.const 9))
    (core instance $i (instantiate $m))
    (func (export "ping") (canon lift (core func $i "ping")))
    (func (export "pong") (result u32) (canon lift (core func $i "pong"))))
  (instance $c (instantiate $C))
  (component $B
    (import "ping" (func $ping))
    (import "pong" (func $pong (result u32)))
    (core func $ping (canon lower (func $ping)))
    (core func $pong (canon lower (func $pong)))
    (core module $shim
      (table (export "t") 1 funcref)
      (type $t (func))
      (func (export "ping") (call_indirect (type $t) (i32.const 0))))
    (core instance $s (instantiate $shim))
    (core module $m
      (import "" "ping" (func $ping))
      (import "" "pong" (func $pong (result i32)))
      (memory (export "mem") 1)
      (global $calls (mut i32) (i32.const 0))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (if (global.get $calls) (then call $ping))
        i32.const 64)
      (func (export "arm") (global.set $calls (i32.const 1)))
      (func (export "pong") (result i32) call $pong)
      (func (export "take") (param i32 i32) (result i32) local.get 1))
    (core instance $i (instantiate $m (with "" (instance
      (export "ping" (func $s "ping")) (export "pong" (func $pong))))))
    (core module $fixup
      (import "" "t" (table 1 funcref))
      (import "" "ping" (func $ping))
      (elem (i32.const 0) func $ping))
    (core instance (instantiate $fixup (with "" (instance
      (export "t" (table $s "t")) (export "ping" (func $ping))))))
    (func (export "take") (param "s" string) (result u32)
      (canon lift (core func $i "take") (memory $i "mem") (realloc (func $i "realloc"))))
    (func (export "pong") (result u32) (canon lift (core func $i "pong")))
    (func (export "arm") (canon lift (core func $i "arm"))))
  (instance $b (instantiate $B (with "ping" (func $c "ping")) (with "pong" (func $c "pong"))))
  (component $A
    (import "take" (func $take (param "s" string) (result u32)))
    (core module $mem (memory (export "mem") 1) (data (i32.const 0) "hello"))
    (core instance $mi (instantiate $mem))
    (core func $take (canon lower (func $take) (memory $mi "mem")))
    (core module $m (import "" "take" (func $take (param i32 i32) (result i32)))
      (func (export "run") (result i32) i32.const 0 i32.const 5 call $take))
    (core instance $i (instantiate $m (with "" (instance (export "take" (func $take))))))
    (func (export "run") (result u32) (canon lift (core func $i "run"))))
  (instance $a (instantiate $A (with "take" (func $b "take"))))
  (export "run" (func $a "run"))
  (export "pong" (func $b "pong"))
  (export "arm" (func $b "arm")))
(assert_return (invoke "run") (u32.const 5))
(assert_return (invoke "pong") (u32.const 9))
(assert_return (invoke "arm"))
(assert_return (invoke "pong") (u32.const 9))
(assert_trap (invoke "run") "cannot leave component instance")
