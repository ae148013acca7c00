;; Stage 1 (sync adapters only): the root export f(stream<u8>, own<R>) of an instance with
;; in-module tables (stream ends, handles); its ends stand-in calls the handles stand-in.
(component
  (component $T
    (core module $Dtor
      (global $log (export "log") (mut i32) (i32.const 0))
      (func (export "d") (param $rep i32)
        (global.set $log (i32.add (i32.mul (global.get $log) (i32.const 31)) (local.get $rep)))))
    (core instance $dtor (instantiate $Dtor))
    (type $R (resource (rep i32) (dtor (core func $dtor "d"))))
    (core func $new (canon resource.new $R))
    (core module $TM
      (import "" "log" (global $log (mut i32)))
      (import "" "new" (func $new (param i32) (result i32)))
      (func (export "mk") (param i32) (result i32) (call $new (local.get 0)))
      (func (export "val") (param i32) (result i32) (local.get 0))
      (func (export "log") (result i32) (global.get $log)))
    (core instance $tm (instantiate $TM (with "" (instance (export "log" (global $dtor "log")) (export "new" (func $new))))))
    (export $R' "r" (type $R))
    (func (export "mk") (param "v" u32) (result (own $R')) (canon lift (core func $tm "mk")))
    (func (export "val") (param "h" (borrow $R')) (result u32) (canon lift (core func $tm "val")))
    (func (export "log") (result u32) (canon lift (core func $tm "log"))))
  ;; Y takes a readable end through a sync adapter
  (component $Y
    (type $S (stream u8))
    (core func $dropr (canon stream.drop-readable $S))
    (core func $wsnew (canon waitable-set.new))
    (core module $YM
      (import "" "dropr" (func $dropr (param i32)))
      (import "" "wsnew" (func $wsnew (result i32)))
      (func (export "g") (param $s i32) (result i32) (local $ws i32)
        (local.set $ws (call $wsnew))
        (call $dropr (local.get $s))
        (i32.or (i32.shl (local.get $s) (i32.const 8)) (local.get $ws))))
    (core instance $ym (instantiate $YM (with "" (instance (export "dropr" (func $dropr)) (export "wsnew" (func $wsnew))))))
    (func (export "g") (param "s" (stream u8)) (result u32) (canon lift (core func $ym "g"))))
  ;; X: the root export takes a stream end and an own handle
  (component $X
    (import "t" (instance $t
      (export "r" (type $R (sub resource)))
      (export "val" (func (param "h" (borrow $R)) (result u32)))))
    (alias export $t "r" (type $R))
    (import "y" (instance $y (export "g" (func (param "s" (stream u8)) (result u32)))))
    (core func $val (canon lower (func $t "val")))
    (core func $g (canon lower (func $y "g")))
    (core func $rdrop (canon resource.drop $R))
    (core func $wsnew (canon waitable-set.new))
    (core module $XM
      (import "" "val" (func $val (param i32) (result i32)))
      (import "" "g" (func $g (param i32) (result i32)))
      (import "" "rdrop" (func $rdrop (param i32)))
      (import "" "wsnew" (func $wsnew (result i32)))
      (func (export "f") (param $s i32) (param $r i32) (result i32) (local $acc i32)
        (local.set $acc (i32.or (i32.shl (local.get $s) (i32.const 4)) (local.get $r)))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 1000)) (call $val (local.get $r))))
        (call $rdrop (local.get $r))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 1000)) (call $g (local.get $s))))
        (i32.add (i32.mul (local.get $acc) (i32.const 31)) (call $wsnew))))
    (core instance $xm (instantiate $XM (with "" (instance (export "val" (func $val)) (export "g" (func $g))
      (export "rdrop" (func $rdrop)) (export "wsnew" (func $wsnew))))))
    (func (export "f") (param "s" (stream u8)) (param "r" (own $R)) (result u32) (canon lift (core func $xm "f"))))
  (instance $t (instantiate $T))
  (instance $y (instantiate $Y))
  (instance $x (instantiate $X (with "t" (instance $t)) (with "y" (instance $y))))
  (export "t" (instance $t))
  (export "f" (func $x "f")))
