"""Element and data segments, in the order instantiation initialises them.

Each module instance's active segments are applied when it is instantiated, after earlier
instances' start functions ran. In the fused module all active segments would be applied before
any start function, so once some start function has run (``deferred``), an instance's active
segments become passive and are initialised by the synthesized start sequence instead
(`table.init`/`elem.drop`, `memory.init`/`data.drop` appended to ``seq``), in the original order.
"""

from __future__ import annotations

from pymeld.codec.core import instructions as ins
from pymeld.codec.core.emitter import Instrs
from pymeld.codec.core.model import Data, Elem, SegmentMode


def copy_elem(
    e: Elem, maps: ins.IndexMaps, out_index: int, deferred: bool, seq: Instrs, file: str
) -> Elem:
    """``e`` with indices remapped; active and ``deferred`` → passive plus a `table.init`."""
    fmap = maps.func
    assert isinstance(fmap, list) and isinstance(maps.table, list) and isinstance(maps.type, list)
    funcs = None if e.funcs is None else [fmap[f] for f in e.funcs]
    exprs = (
        None if e.exprs is None else [ins.rewrite_const_expr(x, maps, file=file) for x in e.exprs]
    )
    etype = ins.remap_valtype(e.type, maps.type.__getitem__)
    if e.mode != SegmentMode.ACTIVE:
        return Elem(e.mode, etype, funcs, exprs, 0, None, None)
    table = maps.table[e.table]
    offset = ins.rewrite_const_expr(e.offset or b"", maps, file=file)
    if not deferred:
        return Elem(SegmentMode.ACTIVE, etype, funcs, exprs, table, offset, None)
    n = len(funcs) if funcs is not None else len(exprs or [])
    seq.extend(offset[:-1]).i32(0).i32(n).table_init(out_index, table).elem_drop(out_index)
    return Elem(SegmentMode.PASSIVE, etype, funcs, exprs, 0, None, None)


def copy_data(
    d: Data, maps: ins.IndexMaps, out_index: int, deferred: bool, seq: Instrs, file: str
) -> Data:
    """``d`` with its memory remapped; active and ``deferred`` → passive plus a `memory.init`."""
    if d.mode != SegmentMode.ACTIVE:
        return Data(d.mode, d.init, 0, None, None)
    assert isinstance(maps.memory, list)
    mem = maps.memory[d.memory]
    offset = ins.rewrite_const_expr(d.offset or b"", maps, file=file)
    if not deferred:
        return Data(SegmentMode.ACTIVE, d.init, mem, offset, None)
    seq.extend(offset[:-1]).i32(0).i32(len(d.init)).memory_init(out_index, mem)
    seq.data_drop(out_index)
    return Data(SegmentMode.PASSIVE, d.init, 0, None, None)
