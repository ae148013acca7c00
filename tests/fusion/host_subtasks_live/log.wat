;; The host's log of test_async_sync_host_calls.py: `log(c)` appends c (a 4-bit code) to the
;; log, `dump` returns its last 16 codes, the latest in the low bits.
(component $Log
  (core module $LM
    (global $log (mut i64) (i64.const 0))
    (func (export "log") (param $c i32)
      (global.set $log (i64.or (i64.shl (global.get $log) (i64.const 4))
                               (i64.extend_i32_u (i32.and (local.get $c) (i32.const 0xf))))))
    (func (export "dump") (result i64) (global.get $log)))
  (core instance $lm (instantiate $LM))
  (func (export "log") (param "c" u32) (canon lift (core func $lm "log")))
  (func (export "dump") (result u64) (canon lift (core func $lm "dump"))))
