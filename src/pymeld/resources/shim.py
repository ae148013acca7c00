"""Destructor trampolines for resource types the wrapper defines (built by `wrap.indirect`).

`(type (resource (rep i32) (dtor $f)))` needs `$f` before the fused module is instantiated (the
fused module imports `canon resource.new` of that very type), but the destructor lives in the
fused module. As wit-component does for its own indirect imports: a shim module exports one
`(func (param i32))` per destructor that `call_indirect`s through a table, and once the fused
instance exists a fixup module fills the table with the fused module's `...#[dtor]T` exports.
A destructor that runs before the fixup traps (uninitialized element) — it cannot be reached
then, since no handle exists before the fused module's start function returns.
"""

from __future__ import annotations

#: Name of the shim's table of destructors (see `pymeld.wrap.indirect`).
TABLE = "$dtors"
