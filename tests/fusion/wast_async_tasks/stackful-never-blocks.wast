;; A callee lifted `async` without a callback that never blocks (merge.asynctask): its
;; `task.return` makes an async lower RETURNED and gives a sync lower its result (a string,
;; lifted into the caller's memory); returning without `task.return` traps.
(component
  (component $C
    (core module $Libc
      (memory (export "mem") 1)
      (global $bump (mut i32) (i32.const 256))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $r i32)
        (local.set $r (global.get $bump))
        (global.set $bump (i32.add (global.get $bump) (local.get 3)))
        (local.get $r)))
    (core instance $libc (instantiate $Libc))
    (core func $task.return (canon task.return (result string)
      (memory (core memory $libc "mem"))))
    (core module $CM
      (import "" "mem" (memory 1))
      (import "" "task.return" (func $task.return (param i32 i32)))
      (func (export "f") (param $p i32) (param $n i32)
        ;; return the string reversed
        (local $i i32)
        (loop $l
          (if (i32.lt_u (local.get $i) (local.get $n)) (then
            (i32.store8 (i32.add (i32.const 128) (local.get $i))
              (i32.load8_u (i32.sub (i32.add (local.get $p) (local.get $n))
                (i32.add (local.get $i) (i32.const 1)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l))))
        (call $task.return (i32.const 128) (local.get $n)))
      (func (export "bad") (param i32 i32)))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $libc "mem"))
      (export "task.return" (func $task.return))))))
    (func (export "f") async (param "s" string) (result string) (canon lift
      (core func $cm "f") async (memory (core memory $libc "mem"))
      (realloc (core func $libc "realloc"))))
    (func (export "bad") async (param "s" string) (result string) (canon lift
      (core func $cm "bad") async (memory (core memory $libc "mem"))
      (realloc (core func $libc "realloc"))))
  )
  (component $D
    (import "f" (func $f async (param "s" string) (result string)))
    (import "bad" (func $bad async (param "s" string) (result string)))
    (core module $Libc
      (memory (export "mem") 1)
      (data (i32.const 16) "hello")
      (global $bump (mut i32) (i32.const 512))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $r i32)
        (local.set $r (global.get $bump))
        (global.set $bump (i32.add (global.get $bump) (local.get 3)))
        (local.get $r)))
    (core instance $libc (instantiate $Libc))
    (core func $fa (canon lower (func $f) async (memory (core memory $libc "mem"))
      (realloc (core func $libc "realloc"))))
    (core func $fs (canon lower (func $f) (memory (core memory $libc "mem"))
      (realloc (core func $libc "realloc"))))
    (core func $bad (canon lower (func $bad) (memory (core memory $libc "mem"))
      (realloc (core func $libc "realloc"))))
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "fa" (func $fa (param i32 i32 i32) (result i32)))
      (import "" "fs" (func $fs (param i32 i32 i32)))
      (import "" "bad" (func $bad (param i32 i32 i32)))
      (func (export "run") (result i32)
        (if (i32.ne (call $fa (i32.const 16) (i32.const 5) (i32.const 32)) (i32.const 2))
          (then unreachable))
        (call $fs (i32.load (i32.const 32)) (i32.load (i32.const 36)) (i32.const 40))
        ;; reversed twice: "hello" again, at a fresh address
        (i32.add (i32.mul (i32.load8_u (i32.load (i32.const 40))) (i32.const 1000))
          (i32.add (i32.load (i32.const 44)) (i32.load8_u (i32.load (i32.const 32))))))
      (func (export "bad") (result i32)
        (call $bad (i32.const 16) (i32.const 5) (i32.const 40))
        (i32.const 0)))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $libc "mem"))
      (export "fa" (func $fa)) (export "fs" (func $fs)) (export "bad" (func $bad))))))
    (func (export "run") async (result u32) (canon lift (core func $dm "run")))
    (func (export "bad") async (result u32) (canon lift (core func $dm "bad")))
  )
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "f" (func $c "f")) (with "bad" (func $c "bad"))))
  (func (export "run") (alias export $d "run"))
  (func (export "bad") (alias export $d "bad"))
)
(assert_return (invoke "run") (u32.const 104116))
(assert_trap (invoke "bad") "")
