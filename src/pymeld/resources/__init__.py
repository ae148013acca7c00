"""Resource semantics after fusion: which handle tables exist and who keeps them.

See `runtime` for the host-facing table (the one the component runtime keeps for the fused
component) and the design notes below for how handles cross between tables.
"""
