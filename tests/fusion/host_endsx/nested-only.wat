;; test_async_host_endsx.py: a composition whose only async host import value is a
;; future<stream<u8>> parameter ($C writes into it): the hand-overs of the ends in its payload
;; (`merge.asyncnested`) are planned after the host import's, with no list beside to plan them.
(component
  (type $s (stream u8))
  (type $fs (future $s))
  (import "h" (func $h async (param "f" $fs)))
  (component $C
    (type $s (stream u8))
    (type $fs (future $s))
    (import "h" (func $h async (param "f" $fs)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core func $h' (canon lower (func $h) async (memory (core memory $memory "mem"))))
    (core func $fnew (canon future.new $fs))
    (core func $fwrite (canon future.write $fs async (memory (core memory $memory "mem"))))
    (core module $CM
      (import "" "h" (func $h (param i32) (result i32)))
      (import "" "fnew" (func $fnew (result i64)))
      (import "" "fwrite" (func $fwrite (param i32 i32) (result i32)))
      (func (export "f")
        (local $f i64)
        (local.set $f (call $fnew))
        (drop (call $h (i32.wrap_i64 (local.get $f))))
        (drop (call $fwrite (i32.wrap_i64 (i64.shr_u (local.get $f) (i64.const 32))) (i32.const 0)))))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "h" (func $h')) (export "fnew" (func $fnew)) (export "fwrite" (func $fwrite))))))
    (func (export "f") async (canon lift (core func $cm "f") async)))
  (component $D
    (import "f" (func $f async))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core func $f' (canon lower (func $f) async (memory (core memory $memory "mem"))))
    (core module $DM
      (import "" "f" (func $f (result i32)))
      (func (export "run") (drop (call $f))))
    (core instance $dm (instantiate $DM (with "" (instance (export "f" (func $f'))))))
    (func (export "run") async (canon lift (core func $dm "run"))))
  (instance $c (instantiate $C (with "h" (func $h))))
  (instance $d (instantiate $D (with "f" (func $c "f"))))
  (export "run" (func $d "run")))
