;; floor of "string-utf8": the ideal direct call with no adapter checks at all.
;; Per call: the callee's cabi_realloc(0, 0, 1, len), one memory.copy from the caller's memory
;; into the callee's, then the callee's f. No length/bounds check, no UTF-8 validation: what
;; every adapter must at least do (an adapter also has to validate, as wasmtime traps on
;; malformed UTF-8). Same callee, caller and checksum as ../../../shared/corpus/bench.
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
    (func $f (param $p i32) (param $len i32) (result i32)
      (local $i i32) (local $s i32)
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (local.set $s (i32.add (local.get $s)
                          (i32.load8_u $callee (i32.add (local.get $p) (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
      (global.set $bump (i32.const 4096))
      (i32.add (i32.shl (local.get $len) (i32.const 16)) (local.get $s)))
    (func (export "run") (param $n i32) (result i64)
      (local $i i32) (local $acc i64) (local $p i32)
      (memory.copy $caller $caller (i32.const 2048) (i32.const 1024) (i32.const 100))
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (i32.store8 $caller (i32.const 2048)
            (i32.add (i32.const 97) (i32.rem_u (local.get $i) (i32.const 26))))
          (local.set $p (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 100)))
          (memory.copy $callee $caller (local.get $p) (i32.const 2048) (i32.const 100))
          (local.set $acc (i64.add (local.get $acc)
            (i64.extend_i32_u (call $f (local.get $p) (i32.const 100)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
      (local.get $acc))
    (data (memory $caller) (i32.const 1024) "Gr\c3\bc\c3\9fe aus K\c3\b6ln \e2\80\94 na\c3\afve caf\c3\a9, 1\e2\82\ac = 100\c2\a2; \c2\bd \e2\88\9e \ce\a9mega. Gr\c3\bc\c3\9fe aus K\c3\b6ln \e2\80\94 na\c3\afve caf\c3\a9,"))
  (core instance $i (instantiate $m))
  (func (export "run") (param "n" u32) (result u64) (canon lift (core func $i "run"))))
