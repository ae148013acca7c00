"""DWARF for the fused module: exact code-offset maps (`addrmap`) and section rewriting
(`remap`, `lines`), so debuggers and trap backtraces still name the right source lines."""
