;;! component_model_async = true
;; A sync caller lends its own handle to a callback task of the resource's definer (which gets
;; the rep, no handle): the loan ends at the task's return, then the caller drops the handle.
(component
  (component $A
    (type $r (resource (rep i32)))
    (core func $tr (canon task.return (result u32)))
    (core func $new (canon resource.new $r))
    (core module $m
      (import "" "tr" (func $tr (param i32)))
      (import "" "new" (func $new (param i32) (result i32)))
      (func (export "make") (param i32) (result i32) (call $new (local.get 0)))
      (func (export "f") (param i32) (result i32) (call $tr (i32.add (local.get 0) (i32.const 100))) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance (export "tr" (func $tr)) (export "new" (func $new))))))
    (export $r2 "r" (type $r))
    (func (export "make") (param "v" u32) (result (own $r2)) (canon lift (core func $i "make")))
    (func (export "f") async (param "h" (borrow $r2)) (result u32)
      (canon lift (core func $i "f") async (callback (core func $i "cb")))))
  (instance $a (instantiate $A))
  (alias export $a "r" (type $r))
  (alias export $a "f" (func $f))
  (alias export $a "make" (func $make))
  (core func $f (canon lower (func $f)))
  (core func $make (canon lower (func $make)))
  (core func $drop (canon resource.drop $r))
  (core module $m
    (import "" "f" (func $f (param i32) (result i32)))
    (import "" "make" (func $make (param i32) (result i32)))
    (import "" "drop" (func $drop (param i32)))
    (func (export "g") (result i32) (local $h i32) (local $v i32)
      (local.set $h (call $make (i32.const 5)))
      (local.set $v (call $f (local.get $h)))
      (call $drop (local.get $h))
      (i32.add (local.get $v) (i32.shl (call $make (i32.const 6)) (i32.const 16)))))
  (core instance $i (instantiate $m (with "" (instance (export "f" (func $f)) (export "make" (func $make)) (export "drop" (func $drop))))))
  (func (export "g") async (result u32) (canon lift (core func $i "g"))))
(assert_return (invoke "g") (u32.const 65641))
