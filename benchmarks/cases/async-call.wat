;; bench case "async-call": caller -> callee  f: async func(x: u32) -> u32, lowered `async` by the
;; caller and lifted `async` with a callback by the callee (component-model async, one task
;; per call). The callee returns its result with `task.return` and exits at once (callback
;; code EXIT), so the async lower reports RETURNED and the result is in the caller's memory.
;; run(n):  acc = 0; for i in 0..n: st = f(i) into retptr 64 (st must be RETURNED = 2);
;;          acc = acc * 31 + result, with f(x) = x * 3 + 7                    (acc: u64)
(component
  ;; ------------------------------------------------------------------ callee
  (component $callee
    (core func $task.return (canon task.return (result u32)))
    (core module $m
      (import "" "task.return" (func $task.return (param i32)))
      (func (export "f") (param $x i32) (result i32)
        (call $task.return (i32.add (i32.mul (local.get $x) (i32.const 3)) (i32.const 7)))
        (i32.const 0))                                  ;; EXIT
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "task.return" (func $task.return))))))
    (func $f async (param "x" u32) (result u32)
      (canon lift (core func $i "f") async (callback (core func $i "cb"))))
    (instance $api (export "f" (func $f)))
    (export "bench:async/api" (instance $api)))

  ;; ------------------------------------------------------------------ caller
  (component $caller
    (import "bench:async/api" (instance $api (export "f" (func async (param "x" u32) (result u32)))))
    (core module $libc (memory (export "memory") 1))
    (core instance $libc-i (instantiate $libc))
    (alias core export $libc-i "memory" (core memory $mem))
    (core func $f (canon lower (func $api "f") async (memory (core memory $mem))))
    (core module $m
      (import "libc" "memory" (memory 1))
      (import "env" "f" (func $f (param i32 i32) (result i32)))
      (func (export "run") (param $n i32) (result i64)
        (local $i i32) (local $acc i64)
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (if (i32.ne (call $f (local.get $i) (i32.const 64)) (i32.const 2))
              (then unreachable))
            (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31))
                                     (i64.load32_u (i32.const 64))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $acc)))
    (core instance $env (export "f" (func $f)))
    (core instance $i (instantiate $m
      (with "libc" (instance $libc-i)) (with "env" (instance $env))))
    (func (export "run") (param "n" u32) (result u64)
      (canon lift (core func $i "run"))))

  ;; ------------------------------------------------------------------ wiring
  (instance $callee-i (instantiate $callee))
  (instance $caller-i (instantiate $caller
    (with "bench:async/api" (instance $callee-i "bench:async/api"))))
  (export "run" (func $caller-i "run")))
