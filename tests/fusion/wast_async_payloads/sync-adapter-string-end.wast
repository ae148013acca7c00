;;! component_model_async = true
;; A stream<string> readable end passed through a sync adapter (no async calls): fused with the
;; in-module tables of stage 3, as the runtime would not copy such a payload within one instance.
(component
  (component $C
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    
    (core module $CM (import "" "mem" (memory 1)) (import "" "drop" (func $drop (param i32))) 
        (func (export "f") (param i32) (result i32) (call $drop (local.get 0)) (local.get 0)))
    
    (type $ST (stream string))
    (core func $drop (canon stream.drop-readable $ST))
    
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "drop" (func $drop)) ))))
    (func (export "f") (param "s" (stream string)) (result u32)
      (canon lift (core func $cm "f"))))
  (component $D
    (import "c" (instance $c (export "f" (func (param "s" (stream string)) (result u32)))))
    
    (type $ST (stream string))
    (core func $new (canon stream.new $ST))
    (core func $f (canon lower (func $c "f")))
    (core module $DM
      (import "" "new" (func $new (result i64)))
      (import "" "f" (func $f (param i32) (result i32)))
      (func (export "run") (result i32) (call $f (i32.wrap_i64 (call $new)))))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "new" (func $new)) (export "f" (func $f))))))
    (func (export "run") (result u32) (canon lift (core func $dm "run"))))
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "c" (instance $c))))
  (export "run" (func $d "run")))
(assert_return (invoke "run") (u32.const 1))
