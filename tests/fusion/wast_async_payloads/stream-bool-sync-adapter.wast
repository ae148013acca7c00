;;! component_model_async = true
;; A stream<bool> readable end returned through a sync adapter (no async calls), the writer's
;; copy pending in C and the read in D: wasmtime copies bool and char payloads only between two
;; instances (`allow_intra_component_read_write` admits none, the integers and floats), so
;; fused they must take the in-module rendezvous, not the runtime's built-ins in one instance.
(component
  (component $C
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream bool))
    (core func $new (canon stream.new $ST))
    (core func $write (canon stream.write $ST async (memory $mem "mem")))
    (core module $CM (import "" "mem" (memory 1))
      (import "" "new" (func $new (result i64)))
      (import "" "write" (func $write (param i32 i32 i32) (result i32)))
      (data (i32.const 16) "\01\00\01")
      (func (export "f") (result i32) (local $p i64)
        (local.set $p (call $new))
        (if (i32.ne (call $write (i32.wrap_i64 (i64.shr_u (local.get $p) (i64.const 32)))
                              (i32.const 16) (i32.const 3)) (i32.const -1))
          (then unreachable))
        (i32.wrap_i64 (local.get $p))))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "new" (func $new)) (export "write" (func $write))))))
    (func (export "f") (result (stream bool)) (canon lift (core func $cm "f"))))
  (component $D
    (import "c" (instance $c (export "f" (func (result (stream bool))))))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream bool))
    (core func $read (canon stream.read $ST async (memory $mem "mem")))
    (core func $f (canon lower (func $c "f")))
    (core module $DM (import "" "mem" (memory 1))
      (import "" "read" (func $read (param i32 i32 i32) (result i32)))
      (import "" "f" (func $f (result i32)))
      (func (export "run") (result i32) (local $r i32)
        (local.set $r (call $read (call $f) (i32.const 32) (i32.const 2)))
        (i32.add (i32.mul (local.get $r) (i32.const 100))
          (i32.add (i32.mul (i32.load8_u (i32.const 32)) (i32.const 10)) (i32.load8_u (i32.const 33))))))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "read" (func $read)) (export "f" (func $f))))))
    (func (export "run") (result u32) (canon lift (core func $dm "run"))))
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "c" (instance $c))))
  (export "run" (func $d "run")))
(assert_return (invoke "run") (u32.const 3210))
