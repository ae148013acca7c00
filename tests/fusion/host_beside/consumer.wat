  ;; Stands in for the host around inner.wat's $D: its exports as they are (each returns a
  ;; u32; the resource and the streams are the host stand-in's, maker.wat).
  (component $Consumer
    (import "d" (instance $d
      (export "take-both" (func async (result u32)))
      (export "take-rev" (func async (result u32)))
      (export "take-both-later" (func async (result u32)))
      (export "take-both-dropped" (func async (result u32)))
      (export "give-both" (func async (result u32)))
      (export "give-rev" (func async (result u32)))
      (export "give-both-later" (func async (result u32)))
    ))
    (export "take-both" (func $d "take-both"))
    (export "take-rev" (func $d "take-rev"))
    (export "take-both-later" (func $d "take-both-later"))
    (export "take-both-dropped" (func $d "take-both-dropped"))
    (export "give-both" (func $d "give-both"))
    (export "give-rev" (func $d "give-rev"))
    (export "give-both-later" (func $d "give-both-later"))
  )
