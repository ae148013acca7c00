;; bench case "stream-u8": a stream<u8> written by one component instance and read by another.
;; The writer W (the root: it runs `run`) creates the stream and hands the readable end to the
;; reader R (through an adapter: the end moves from W's handle table to R's). Per call W fills
;; 64 bytes of ITS memory and starts an async write (no reader yet: BLOCKED), calls R's
;; `pull(i)` across the boundary, whose async read completes at once (the runtime copies the
;; 64 bytes from W's memory into R's), then W polls its waitable set for the write's event.
;; run(n):  (r, w) = stream.new; attach(r); ws = new set; join(w, ws); acc = 0
;;          for i in 0..n: bytes k = (i + k) & 0xff, k = 0..63; write(w, buf, 64) must be
;;            BLOCKED; x = pull(i) (R: read code + its byte i & 63 of what it read);
;;            e = poll(ws); acc = acc * 31 + x + e + payload                   (acc: u64)
;;          detach() (R drops r); drop w; drop ws
(component
  ;; ------------------------------------------------------------------ reader
  (component $R
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream u8))
    (core func $read (canon stream.read $ST async (memory (core memory $mem "mem"))))
    (core func $drop-r (canon stream.drop-readable $ST))
    (core module $RM
      (import "" "mem" (memory 1))
      (import "" "read" (func $read (param i32 i32 i32) (result i32)))
      (import "" "drop-r" (func $drop-r (param i32)))
      (global $r (mut i32) (i32.const 0))
      (func (export "attach") (param i32) (global.set $r (local.get 0)))
      (func (export "pull") (param $i i32) (result i32)
        (i32.add (call $read (global.get $r) (i32.const 256) (i32.const 64))
                 (i32.load8_u (i32.add (i32.const 256) (i32.and (local.get $i) (i32.const 63))))))
      (func (export "detach") (call $drop-r (global.get $r))))
    (core instance $rm (instantiate $RM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "read" (func $read))
      (export "drop-r" (func $drop-r))))))
    (func $attach (param "s" (stream u8)) (canon lift (core func $rm "attach")))
    (func $pull (param "i" u32) (result u32) (canon lift (core func $rm "pull")))
    (func $detach (canon lift (core func $rm "detach")))
    (instance $api (export "attach" (func $attach)) (export "pull" (func $pull))
                   (export "detach" (func $detach)))
    (export "bench:stream/api" (instance $api)))

  ;; ------------------------------------------------------------------ writer
  (component $W
    (import "bench:stream/api" (instance $r
      (export "attach" (func (param "s" (stream u8))))
      (export "pull" (func (param "i" u32) (result u32)))
      (export "detach" (func))))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream u8))
    (core func $new (canon stream.new $ST))
    (core func $write (canon stream.write $ST async (memory (core memory $mem "mem"))))
    (core func $drop-w (canon stream.drop-writable $ST))
    (core func $ws.new (canon waitable-set.new))
    (core func $ws.drop (canon waitable-set.drop))
    (core func $join (canon waitable.join))
    (core func $poll (canon waitable-set.poll (memory (core memory $mem "mem"))))
    (core func $attach (canon lower (func $r "attach")))
    (core func $pull (canon lower (func $r "pull")))
    (core func $detach (canon lower (func $r "detach")))
    (core module $WM
      (import "" "mem" (memory 1))
      (import "" "new" (func $new (result i64)))
      (import "" "write" (func $write (param i32 i32 i32) (result i32)))
      (import "" "drop-w" (func $drop-w (param i32)))
      (import "" "ws.new" (func $ws.new (result i32)))
      (import "" "ws.drop" (func $ws.drop (param i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "poll" (func $poll (param i32 i32) (result i32)))
      (import "" "attach" (func $attach (param i32)))
      (import "" "pull" (func $pull (param i32) (result i32)))
      (import "" "detach" (func $detach))
      (func (export "run") (param $n i32) (result i64)
        (local $i i32) (local $p i64) (local $w i32) (local $ws i32) (local $acc i64)
        (local $k i32) (local $v i32) (local $x i32) (local $e i32)
        (local.set $p (call $new))
        (local.set $w (i32.wrap_i64 (i64.shr_u (local.get $p) (i64.const 32))))
        (call $attach (i32.wrap_i64 (local.get $p)))
        (local.set $ws (call $ws.new))
        (call $join (local.get $w) (local.get $ws))
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $v (i32.add (i32.mul (i32.and (local.get $i) (i32.const 0xff))
                                            (i32.const 0x01010101))
                                   (i32.const 0x03020100)))
            (local.set $k (i32.const 0))
            (block $filled
              (loop $fill
                (br_if $filled (i32.ge_u (local.get $k) (i32.const 64)))
                (i32.store (i32.add (i32.const 1024) (local.get $k)) (local.get $v))
                (local.set $v (i32.add (local.get $v) (i32.const 0x04040404)))
                (local.set $k (i32.add (local.get $k) (i32.const 4)))
                (br $fill)))
            (if (i32.ne (call $write (local.get $w) (i32.const 1024) (i32.const 64))
                        (i32.const -1))
              (then unreachable))
            (local.set $x (call $pull (local.get $i)))
            (local.set $e (call $poll (local.get $ws) (i32.const 32)))
            (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31))
              (i64.extend_i32_u (i32.add (i32.add (local.get $x) (local.get $e))
                                         (i32.load (i32.const 36))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (call $join (local.get $w) (i32.const 0))
        (call $detach)
        (call $drop-w (local.get $w))
        (call $ws.drop (local.get $ws))
        (local.get $acc)))
    (core instance $wm (instantiate $WM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "new" (func $new))
      (export "write" (func $write)) (export "drop-w" (func $drop-w))
      (export "ws.new" (func $ws.new)) (export "ws.drop" (func $ws.drop))
      (export "join" (func $join)) (export "poll" (func $poll))
      (export "attach" (func $attach)) (export "pull" (func $pull))
      (export "detach" (func $detach))))))
    (func (export "run") (param "n" u32) (result u64) (canon lift (core func $wm "run"))))

  ;; ------------------------------------------------------------------ wiring
  (instance $r-i (instantiate $R))
  (instance $w-i (instantiate $W (with "bench:stream/api" (instance $r-i "bench:stream/api"))))
  (export "run" (func $w-i "run")))
