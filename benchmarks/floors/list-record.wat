;; floor of "list-record": the ideal direct call with no adapter checks at all.
;; Per call: the callee's cabi_realloc(0, 0, 8, 384), one memory.copy of the 16 records from
;; the caller's memory into the callee's (padding included, which an adapter may not do: the
;; destination's padding must stay as the callee's allocator left it), then the callee's f.
;; Same callee, caller and checksum as ../cases/list-record.wat.
(component
  (core module $m
    (memory $callee 1)
    (memory $caller 1)
    (global $bump (mut i32) (i32.const 4096))
    (func $realloc (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
                   (result i32)
      (local $p i32)
      (if (i32.and (i32.ne (local.get $old) (i32.const 0))
                   (i32.eq (i32.add (local.get $old) (local.get $old_size)) (global.get $bump)))
        (then
          (global.set $bump (i32.add (local.get $old) (local.get $new_size)))
          (return (local.get $old))))
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (global.set $bump (i32.add (local.get $p) (local.get $new_size)))
      (if (local.get $old)
        (then (memory.copy $callee $callee (local.get $p) (local.get $old)
                (select (local.get $old_size) (local.get $new_size)
                        (i32.lt_u (local.get $old_size) (local.get $new_size))))))
      (local.get $p))
    (func $f (param $p i32) (param $len i32) (result i64)
      (local $i i32) (local $e i32) (local $s i64)
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (local.set $e (i32.add (local.get $p) (i32.mul (local.get $i) (i32.const 24))))
          (local.set $s (i64.add (local.get $s)
            (i64.add
              (i64.add (i64.mul (i64.load32_u $callee (local.get $e)) (i64.const 3))
                       (i64.load $callee offset=8 (local.get $e)))
              (i64.load8_u $callee offset=16 (local.get $e)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
      (global.set $bump (i32.const 4096))
      (i64.add (local.get $s) (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 40))))
    (func (export "run") (param $n i32) (result i64)
      (local $i i32) (local $k i32) (local $acc i64) (local $p i32)
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $k) (i32.const 16)))
          (i32.store $caller (i32.add (i32.const 1024) (i32.mul (local.get $k) (i32.const 24)))
            (local.get $k))
          (i64.store $caller offset=8 (i32.add (i32.const 1024) (i32.mul (local.get $k) (i32.const 24)))
            (i64.mul (i64.extend_i32_u (local.get $k)) (i64.const 0x100000001)))
          (i32.store8 $caller offset=16 (i32.add (i32.const 1024) (i32.mul (local.get $k) (i32.const 24)))
            (i32.add (local.get $k) (i32.const 100)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $l)))
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (i32.store $caller (i32.add (i32.const 1024)
                                      (i32.mul (i32.and (local.get $i) (i32.const 15)) (i32.const 24)))
                     (local.get $i))
          (local.set $p (call $realloc (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 384)))
          (memory.copy $callee $caller (local.get $p) (i32.const 1024) (i32.const 384))
          (local.set $acc (i64.add (local.get $acc) (call $f (local.get $p) (i32.const 16))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
      (local.get $acc)))
  (core instance $i (instantiate $m))
  (func (export "run") (param "n" u32) (result u64) (canon lift (core func $i "run"))))
