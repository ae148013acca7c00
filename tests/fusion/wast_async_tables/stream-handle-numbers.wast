;; Stream ends passed through synchronous adapters between two component instances: each
;; instance numbers its handles on its own (index 0 unused, fresh indices in order, freed ones
;; reused last-in first-out), and the fused module must hand out the same numbers.
(component
  (component $C
    (core module $CM
      (import "" "stream.new" (func $stream.new (result i64)))
      (import "" "drop-w" (func $drop-w (param i32)))
      (global $last (mut i64) (i64.const 0))
      ;; a new stream: keep the pair, return the readable end
      (func (export "make") (result i32)
        (global.set $last (call $stream.new))
        (i32.wrap_i64 (global.get $last)))
      ;; the writable end of the last stream (C's numbering)
      (func (export "last-w") (result i32)
        (i32.wrap_i64 (i64.shr_u (global.get $last) (i64.const 32))))
      (func (export "drop-w") (param i32) (call $drop-w (local.get 0)))
    )
    (type $ST (stream u8))
    (canon stream.new $ST (core func $stream.new))
    (canon stream.drop-writable $ST (core func $drop-w))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "stream.new" (func $stream.new))
      (export "drop-w" (func $drop-w))))))
    (func (export "make") (result (stream u8)) (canon lift (core func $cm "make")))
    (func (export "last-w") (result u32) (canon lift (core func $cm "last-w")))
    (func (export "drop-w") (param "w" u32) (canon lift (core func $cm "drop-w")))
  )
  (component $D
    (import "c" (instance $c
      (export "make" (func (result (stream u8))))
      (export "last-w" (func (result u32)))
      (export "drop-w" (func (param "w" u32)))))
    (core module $DM
      (import "" "make" (func $make (result i32)))
      (import "" "last-w" (func $last-w (result i32)))
      (import "" "drop-w" (func $drop-w (param i32)))
      (import "" "stream.new" (func $stream.new (result i64)))
      (import "" "drop-r" (func $drop-r (param i32)))
      ;; packs the handle numbers both instances saw into one u64 (8 bits each)
      (func (export "run") (result i64)
        (local $acc i64) (local $a i32) (local $b i32) (local $own i64) (local $c i32)
        (local.set $a (call $make))                       ;; D: 1 (C: r1 w2; r1 moves out)
        (local.set $acc (i64.extend_i32_u (local.get $a)))
        (local.set $acc (i64.or (i64.shl (local.get $acc) (i64.const 8))
          (i64.extend_i32_u (call $last-w))))             ;; C: 2
        (local.set $own (call $stream.new))               ;; D: r2 w3
        (local.set $acc (i64.or (i64.shl (local.get $acc) (i64.const 8))
          (i64.and (local.get $own) (i64.const 0xff))))
        (local.set $b (call $make))                       ;; C: r1 (reused) w3; D: 4
        (local.set $acc (i64.or (i64.shl (local.get $acc) (i64.const 8))
          (i64.extend_i32_u (local.get $b))))
        (local.set $acc (i64.or (i64.shl (local.get $acc) (i64.const 8))
          (i64.extend_i32_u (call $last-w))))
        (call $drop-r (local.get $a))                     ;; D frees 1
        (call $drop-r (i32.wrap_i64 (local.get $own)))    ;; then 2
        (call $drop-w (i32.const 2))                      ;; C frees 2 (its free list: 2, 1)
        (local.set $c (call $make))                       ;; C: r2 w1; D: 2 (freed last)
        (local.set $acc (i64.or (i64.shl (local.get $acc) (i64.const 8))
          (i64.extend_i32_u (local.get $c))))
        (local.set $acc (i64.or (i64.shl (local.get $acc) (i64.const 8))
          (i64.extend_i32_u (call $last-w))))
        (local.get $acc))
      ;; a dropped handle is gone: using it again traps
      (func (export "stale") (result i32)
        (local $a i32)
        (local.set $a (call $make))
        (call $drop-r (local.get $a))
        (call $drop-r (local.get $a))
        (i32.const 0))
    )
    (type $ST (stream u8))
    (canon stream.new $ST (core func $stream.new))
    (canon stream.drop-readable $ST (core func $drop-r))
    (canon lower (func $c "make") (core func $make))
    (canon lower (func $c "last-w") (core func $last-w))
    (canon lower (func $c "drop-w") (core func $drop-w))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "make" (func $make))
      (export "last-w" (func $last-w))
      (export "drop-w" (func $drop-w))
      (export "stream.new" (func $stream.new))
      (export "drop-r" (func $drop-r))))))
    (func (export "run") (result u64) (canon lift (core func $dm "run")))
    (func (export "stale") (result u32) (canon lift (core func $dm "stale")))
  )
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "c" (instance $c))))
  (func (export "run") (alias export $d "run"))
  (func (export "stale") (alias export $d "stale"))
)
(assert_return (invoke "run") (u64.const 0x01_0202_0403_0201))
(assert_trap (invoke "stale") "unknown handle index")
