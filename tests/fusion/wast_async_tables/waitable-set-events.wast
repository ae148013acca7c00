;; A readable end that went to another instance and came back gets a new number in the root
;; instance's table (not the runtime's); the event `waitable-set.poll` reports for it names it
;; by that number, and delivering the event ends the copy (the end can move again afterwards).
(component
  (component $C
    (core module $CM
      (global $kept (mut i32) (i32.const 0))
      (func (export "keep") (param i32) (result i32) (global.set $kept (local.get 0)) (local.get 0))
      (func (export "back") (result i32) (global.get $kept)))
    (core instance $cm (instantiate $CM))
    (func (export "keep") (param "s" (stream u8)) (result u32) (canon lift (core func $cm "keep")))
    (func (export "back") (result (stream u8)) (canon lift (core func $cm "back")))
  )
  (component $D
    (import "c" (instance $c
      (export "keep" (func (param "s" (stream u8)) (result u32)))
      (export "back" (func (result (stream u8))))))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream u8))
    (core func $new (canon stream.new $ST))
    (core func $read (canon stream.read $ST async (memory (core memory $mem "mem"))))
    (core func $write (canon stream.write $ST async (memory (core memory $mem "mem"))))
    (core func $ws.new (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $poll (canon waitable-set.poll (memory (core memory $mem "mem"))))
    (core func $keep (canon lower (func $c "keep")))
    (core func $back (canon lower (func $c "back")))
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "new" (func $new (result i64)))
      (import "" "read" (func $read (param i32 i32 i32) (result i32)))
      (import "" "write" (func $write (param i32 i32 i32) (result i32)))
      (import "" "ws.new" (func $ws.new (result i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "poll" (func $poll (param i32 i32) (result i32)))
      (import "" "keep" (func $keep (param i32) (result i32)))
      (import "" "back" (func $back (result i32)))
      ;; (kept << 56) | (rA << 48) | (poll code << 40) | (index << 32) | (payload << 8) | byte
      (func (export "run") (result i64)
        (local $ws i32) (local $a i64) (local $b i64) (local $ra i32) (local $k i32)
        (local $code i32)
        (local.set $ws (call $ws.new))                      ;; 1
        (local.set $a (call $new))                          ;; rA 2, wA 3
        (local.set $k (call $keep (i32.wrap_i64 (local.get $a))))
        (local.set $b (call $new))                          ;; rB 2 (reused), wB 4
        (local.set $ra (call $back))                        ;; rA 5 here (the runtime: 2)
        (if (i32.ne (call $read (local.get $ra) (i32.const 16) (i32.const 1)) (i32.const -1))
          (then unreachable))
        (call $join (local.get $ra) (local.get $ws))
        (i32.store8 (i32.const 8) (i32.const 0x5a))
        (if (i32.ne (call $write (i32.wrap_i64 (i64.shr_u (local.get $a) (i64.const 32)))
                                 (i32.const 8) (i32.const 1)) (i32.const 0x10))
          (then unreachable))
        (local.set $code (call $poll (local.get $ws) (i32.const 32)))
        (call $join (local.get $ra) (i32.const 0))
        (i64.or
          (i64.or (i64.shl (i64.extend_i32_u (call $keep (local.get $ra))) (i64.const 56))
                  (i64.shl (i64.extend_i32_u (local.get $ra)) (i64.const 48)))
          (i64.or
            (i64.or (i64.shl (i64.extend_i32_u (local.get $code)) (i64.const 40))
                    (i64.shl (i64.extend_i32_u (i32.load (i32.const 32))) (i64.const 32)))
            (i64.or (i64.shl (i64.extend_i32_u (i32.load (i32.const 36))) (i64.const 8))
                    (i64.extend_i32_u (i32.load8_u (i32.const 16)))))))
    )
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "new" (func $new))
      (export "read" (func $read)) (export "write" (func $write))
      (export "ws.new" (func $ws.new)) (export "join" (func $join)) (export "poll" (func $poll))
      (export "keep" (func $keep)) (export "back" (func $back))))))
    (func (export "run") (result u64) (canon lift (core func $dm "run")))
  )
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "c" (instance $c))))
  (func (export "run") (alias export $d "run"))
)
(assert_return (invoke "run") (u64.const 0x0105_0205_0000_105a))
