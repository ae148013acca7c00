  ;; Stands in for the host's import of inner.wat: `sink-wide` takes 16 u32s and a stream<u8>
  ;; (17 flat values: passed by pointer, lifted through its realloc) and starts a read of the
  ;; stream: the read's code | the last u32's low byte << 8; `sunk` gives the byte read.
  (component $Maker
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (type $ST (stream u8))
    (type $P (tuple u32 u32 u32 u32 u32 u32 u32 u32 u32 u32 u32 u32 u32 u32 u32 u32))
    (core module $M
      (import "" "mem" (memory 1))
      (import "" "stream.read" (func $stream.read (param i32 i32 i32) (result i32)))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0x100))
      (func (export "sink-wide") (param $p i32) (result i32)
        (i32.or (i32.and (call $stream.read (i32.load offset=64 (local.get $p))
                                            (i32.const 48) (i32.const 4))
                         (i32.const 0xff))
                (i32.shl (i32.and (i32.load offset=60 (local.get $p)) (i32.const 0xff))
                         (i32.const 8))))
      (func (export "sunk") (result i32) (i32.load8_u (i32.const 48)))
    )
    (core func $stream.read (canon stream.read $ST async (memory (core memory $memory "mem"))))
    (core instance $m (instantiate $M (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "stream.read" (func $stream.read))
    ))))
    (func (export "sink-wide") (param "p" $P) (param "s" $ST) (result u32)
      (canon lift (core func $m "sink-wide") (memory (core memory $memory "mem"))
        (realloc (core func $m "realloc"))))
    (func (export "sunk") (result u32) (canon lift (core func $m "sunk")))
  )
