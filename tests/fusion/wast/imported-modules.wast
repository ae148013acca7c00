;; Core modules imported from the host (the oracle's `host/simple-module`: global `g` = 100,
;; function `f` returning 101) cannot be fused: the output component keeps the import and
;; instantiates the module itself, beside the fused module (pymeld.merge.foreign).

;; instantiated once; the fused code imports its function and global
(component
  (import "host" (instance $host
    (export "simple-module" (core module
      (export "f" (func (result i32)))
      (export "g" (global i32))
    ))
  ))
  (core instance $s (instantiate (module $host "simple-module")))
  (core module $use
    (import "s" "f" (func $f (result i32)))
    (import "s" "g" (global $g i32))
    (func (export "sum") (result i32) (i32.add (call $f) (global.get $g)))
  )
  (core instance $u (instantiate $use (with "s" (instance $s))))
  (func (export "sum") (result u32) (canon lift (core func $u "sum")))
)
(assert_return (invoke "sum") (u32.const 201))

;; instantiated twice: two instances, and its function re-exported at the root directly
(component
  (import "host" (instance $host
    (export "simple-module" (core module
      (export "f" (func (result i32)))
      (export "g" (global i32))
    ))
  ))
  (alias export $host "simple-module" (core module $sm))
  (core instance $s1 (instantiate $sm))
  (core module $m
    (global (export "g") i32 (i32.const 7))
    (func (export "seven") (result i32) (i32.const 7))
  )
  (core instance $own (instantiate $m))
  (core instance $s2 (instantiate $sm))
  (core module $use
    (import "a" "f" (func $fa (result i32)))
    (import "b" "f" (func $fb (result i32)))
    (import "b" "g" (global $gb i32))
    (import "m" "seven" (func $seven (result i32)))
    (func (export "mix") (result i32)
      (i32.sub (i32.add (call $fa) (call $fb)) (i32.add (global.get $gb) (call $seven))))
  )
  (core instance $u (instantiate $use
    (with "a" (instance $s1)) (with "b" (instance $s2)) (with "m" (instance $own))))
  (func (export "mix") (result u32) (canon lift (core func $u "mix")))
  (func (export "f1") (result u32) (canon lift (core func $s1 "f")))
  (func (export "f2") (result s32) (canon lift (core func $s2 "f")))
)
(assert_return (invoke "mix") (u32.const 95))
(assert_return (invoke "f1") (u32.const 101))
(assert_return (invoke "f2") (s32.const 101))

;; instantiated after the fused code: its declared imports (which the real module, a subtype,
;; ignores) are the fused code's memory, table, global and a function, so the fused module
;; is instantiated first and the start functions after it run after the imported instance
(component
  (import "host" (instance $host
    (export "simple-module" (core module
      (import "" "mem" (memory 1))
      (import "" "t" (table 1 funcref))
      (import "" "gm" (global (mut i32)))
      (import "" "h" (func (param i32) (result i32)))
      (export "f" (func (result i32)))
    ))
  ))
  (core module $a
    (memory (export "mem") 1)
    (table (export "t") 1 funcref)
    (global $gm (export "gm") (mut i32) (i32.const 1))
    (func $h (export "h") (param i32) (result i32) (local.get 0))
    (data (i32.const 0) "\01")
    (func $start (global.set $gm (i32.const 2)))
    (start $start)
    (func (export "get") (result i32) (global.get $gm))
  )
  (core instance $a (instantiate $a))
  (core instance $s (instantiate (module $host "simple-module") (with "" (instance $a))))
  (core module $b
    (import "a" "mem" (memory 1))
    (import "a" "gm" (global $gm (mut i32)))
    (data (i32.const 1) "\05")
    (func $start
      (global.set $gm (i32.add (global.get $gm) (i32.load8_u (i32.const 1)))))
    (start $start)
  )
  (core instance $b (instantiate $b (with "a" (instance $a))))
  (func (export "get") (result u32) (canon lift (core func $a "get")))
  (func (export "f") (result u32) (canon lift (core func $s "f")))
)
(assert_return (invoke "get") (u32.const 7))
(assert_return (invoke "f") (u32.const 101))

;; an imported core module only declared, and re-exported at the root (compiled only: the
;; oracle's host has no module `m`)
(component definition
  (core type $mt (module (export "f" (func (result i32)))))
  (import "m" (core module $m (type $mt)))
  (export "again" (core module $m))
)

;; the module type names an outer core type (an alias inside the module type)
(component
  (type $it (instance
    (core type $ft (func (result i32)))
    (core type $mt (module
      (alias outer 1 $ft (type $f))
      (export "f" (func (type $f)))
      (export "g" (global i32))))
    (export "simple-module" (core module (type $mt)))))
  (import "host" (instance $host (type $it)))
  (core instance $s (instantiate (module $host "simple-module")))
  (core module $use
    (import "s" "f" (func $f (result i32)))
    (func (export "x") (result i32) (i32.mul (call $f) (i32.const 2))))
  (core instance $u (instantiate $use (with "s" (instance $s))))
  (func (export "x") (result u32) (canon lift (core func $u "x")))
)
(assert_return (invoke "x") (u32.const 202))

;; a root-level module import whose type aliases a root core type; its instance imports the
;; fused code's function, its function is re-exported (compiled only: no host module `m`)
(component definition
  (core type $ft (func (result i32)))
  (core type $mt (module
    (alias outer 1 $ft (type $f))
    (import "" "one" (func (type $f)))
    (export "two" (func (type $f)))))
  (import "m" (core module $m (type $mt)))
  (core module $own (func (export "one") (result i32) (i32.const 1)))
  (core instance $o (instantiate $own))
  (core instance $i (instantiate $m (with "" (instance $o))))
  (func (export "two") (result u32) (canon lift (core func $i "two")))
)

;; passed to a nested component (twice), which instantiates it
(component
  (import "host" (instance $host
    (export "simple-module" (core module (export "f" (func (result i32)))))))
  (alias export $host "simple-module" (core module $sm))
  (component $inner
    (import "m" (core module $m (export "f" (func (result i32)))))
    (core instance $i (instantiate $m))
    (core module $use
      (import "i" "f" (func $f (result i32)))
      (global $n (mut i32) (i32.const 0))
      (func (export "y") (result i32)
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (i32.add (call $f) (global.get $n))))
    (core instance $u (instantiate $use (with "i" (instance $i))))
    (func (export "y") (result u32) (canon lift (core func $u "y"))))
  (instance $a (instantiate $inner (with "m" (core module $sm))))
  (instance $b (instantiate $inner (with "m" (core module $sm))))
  (export "ya" (func $a "y"))
  (export "yb" (func $b "y"))
)
(assert_return (invoke "ya") (u32.const 102))
(assert_return (invoke "ya") (u32.const 103))
(assert_return (invoke "yb") (u32.const 102))
