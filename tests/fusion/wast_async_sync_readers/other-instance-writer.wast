;; A future<u32> read X's synchronously lifted `read` leaves pending (BLOCKED), written by D,
;; the other instance holding the writable end, after that call returned: wasmtime copies on
;; the reading thread, gone by then ("resource not present"; D, the writer, is the caller: no
;; call took the thread's table slot since). The fused sync call's thread is gone too
;; (merge.asyncsyncthreads): a trap.
(component definition $T
  (component $X
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (type $FT (future u32))
    (core func $fread (canon future.read $FT async (memory (core memory $memory "mem"))))
    (core func $fdr (canon future.drop-readable $FT))
    (core module $XM
      (import "" "mem" (memory 1))
      (import "" "fread" (func $fread (param i32 i32) (result i32)))
      (import "" "fdr" (func $fdr (param i32)))
      (global $rx (mut i32) (i32.const 0))
      (func (export "take") (param $f i32) (global.set $rx (local.get $f)))
      (func (export "read") (result i32)
        (i32.store (i32.const 0x100) (i32.const 0xee))
        (call $fread (global.get $rx) (i32.const 0x100)))
      (func (export "peek") (result i32) (i32.load (i32.const 0x100))))
    (core instance $xm (instantiate $XM (with "" (instance
      (export "mem" (memory $memory "mem")) (export "fread" (func $fread)) (export "fdr" (func $fdr))))))
    (func (export "take") (param "f" (future u32)) (canon lift (core func $xm "take")))
    (func (export "read") (result s32) (canon lift (core func $xm "read")))
    (func (export "peek") (result u32) (canon lift (core func $xm "peek"))))
  (component $E
    (core func $ret (canon task.return (result u32)))
    (core module $EM
      (import "" "ret" (func $ret (param i32)))
      (func (export "e") (result i32) (call $ret (i32.const 5)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $em (instantiate $EM (with "" (instance (export "ret" (func $ret))))))
    (func (export "e") async (result u32)
      (canon lift (core func $em "e") async (callback (core func $em "cb")))))
  (component $D
    (type $FT (future u32))
    (import "x" (instance $x
      (export "take" (func (param "f" (future u32))))
      (export "read" (func (result s32)))
      (export "peek" (func (result u32)))))
    (import "e" (func $e async (result u32)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core func $e (canon lower (func $e) async (memory (core memory $memory "mem"))))
    (core func $read (canon lower (func $x "read")))
    (core func $take (canon lower (func $x "take")))
    (core func $peek (canon lower (func $x "peek")))
    (core func $fnew (canon future.new $FT))
    (core func $fwrite (canon future.write $FT async (memory (core memory $memory "mem"))))
    (core module $DM
      (import "" "e" (func $e (param i32) (result i32)))
      (import "" "read" (func $read (result i32)))
      (import "" "take" (func $take (param i32)))
      (import "" "peek" (func $peek (result i32)))
      (import "" "fnew" (func $fnew (result i64)))
      (import "" "fwrite" (func $fwrite (param i32 i32) (result i32)))
      (import "" "mem" (memory 1))
      (func (export "run") (result i32) (local $p i64) (local $acc i32)
        (if (i32.ne (call $e (i32.const 0)) (i32.const 2)) (then unreachable))
        (local.set $p (call $fnew))
        (call $take (i32.wrap_i64 (local.get $p)))
        (local.set $acc (call $read))
        (i32.store (i32.const 0x80) (i32.const 0x1234567))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 1000)) (call $fwrite (i32.wrap_i64 (i64.shr_u (local.get $p) (i64.const 32))) (i32.const 0x80))))
        (i32.add (i32.mul (local.get $acc) (i32.const 1000)) (call $peek))))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "e" (func $e)) (export "read" (func $read)) (export "take" (func $take)) (export "peek" (func $peek))
      (export "fnew" (func $fnew)) (export "fwrite" (func $fwrite)) (export "mem" (memory $memory "mem"))))))
    (func (export "run") async (result u32) (canon lift (core func $dm "run"))))
  (instance $x (instantiate $X))
  (instance $e (instantiate $E))
  (instance $d (instantiate $D (with "x" (instance $x)) (with "e" (func $e "e"))))
  (export "run" (func $d "run")))
(component instance $i0 $T)
(assert_trap (invoke "run") "resource not present")
