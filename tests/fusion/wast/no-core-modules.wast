;; components with no core modules at all: only types, instances of types, imports
(component
  (import "host-return-two" (func $f (result u32)))
  (type $r (record (field "a" u32)))
  (export "r" (type $r)))
(component
  (type $e (enum "a" "b"))
  (export "e" (type $e))
  (component $inner
    (type $t (flags "x" "y"))
    (export "t" (type $t)))
  (instance $x (instantiate $inner))
  (export "inner" (instance $x)))
