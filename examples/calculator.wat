;; A two-component composition, written by hand in the component text format.
;;
;;   calc: exports `op` (an enum), `add: func(a: u32, b: u32) -> u32`
;;         and `eval: func(op: op, a: u32, b: u32) -> u32`
;;   app:  imports an instance shaped like `calc`, exports `run: func(x: u32) -> u32`
;;         computing eval(mul, add(x, 3), eval(sub, x, 1))  = (x + 3) * (x - 1)
;;
;; The root component instantiates both and wires calc's instance into app's import, so every
;; call of `run` crosses a component boundary three times: the job `pymeld fuse` removes.
;; Build: wasm-tools parse examples/calculator.wat -o examples/calculator.composed.wasm
(component $root
  (component $calc
    (type $op (enum "add" "sub" "mul"))
    (export $op-e "op" (type $op))
    (core module $impl
      (func (export "add") (param i32 i32) (result i32)
        local.get 0
        local.get 1
        i32.add)
      ;; op: 0 = add, 1 = sub, 2 = mul (the enum's case order); u32 arithmetic wraps
      (func (export "eval") (param $op i32) (param $a i32) (param $b i32) (result i32)
        (block $mul
          (block $sub
            (block $add
              (br_table $add $sub $mul (local.get $op)))
            (return (i32.add (local.get $a) (local.get $b))))
          (return (i32.sub (local.get $a) (local.get $b))))
        (i32.mul (local.get $a) (local.get $b))))
    (core instance $i (instantiate $impl))
    (func $add (param "a" u32) (param "b" u32) (result u32)
      (canon lift (core func $i "add")))
    (func $eval (param "op" $op-e) (param "a" u32) (param "b" u32) (result u32)
      (canon lift (core func $i "eval")))
    (export "add" (func $add))
    (export "eval" (func $eval)))

  (component $app
    (import "calc" (instance $calc
      (type $op (enum "add" "sub" "mul"))
      (export "op" (type $op-e (eq $op)))
      (export "add" (func (param "a" u32) (param "b" u32) (result u32)))
      (export "eval" (func (param "op" $op-e) (param "a" u32) (param "b" u32) (result u32)))))
    (core func $add (canon lower (func $calc "add")))
    (core func $eval (canon lower (func $calc "eval")))
    (core module $main
      (import "calc" "add" (func $add (param i32 i32) (result i32)))
      (import "calc" "eval" (func $eval (param i32 i32 i32) (result i32)))
      (func (export "run") (param $x i32) (result i32)
        (call $eval
          (i32.const 2)
          (call $add (local.get $x) (i32.const 3))
          (call $eval (i32.const 1) (local.get $x) (i32.const 1)))))
    (core instance $calc-core (export "add" (func $add)) (export "eval" (func $eval)))
    (core instance $m (instantiate $main (with "calc" (instance $calc-core))))
    (func $run (param "x" u32) (result u32) (canon lift (core func $m "run")))
    (export "run" (func $run)))

  (instance $c (instantiate $calc))
  (instance $a (instantiate $app (with "calc" (instance $c))))
  (export "run" (func $a "run")))
