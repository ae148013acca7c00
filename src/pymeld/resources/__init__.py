"""Resource semantics after fusion: which handle tables exist and who keeps them.

A composed component has one handle table per component instance; the fused component is one
instance, so the runtime keeps exactly one table for it. pymeld therefore splits the tables:

* **Runtime table** (`runtime`): stands for the *host-facing* instance H — the one whose
  lifted exports pass own/borrow handles of composition-defined resources to the host (at most
  one such instance; several is an `UnsupportedFeature`). H's `resource.new/rep/drop` stay
  imports of the fused core module (`[export]<iface>` / `[resource-new]<T>` ..., as
  wit-component names them, destructor exported as `<iface>#[dtor]<T>`). With `--component`
  the wrapper defines each such type itself, `(type (resource (rep i32) (dtor $shim)))`, the
  destructor reached through a shim/fixup table because the fused module is instantiated after
  the built-ins it imports (`shim`), and exports it. Host resource drops stay imports too (merger).
* **In-module tables** (`tables`): every other instance that touches composition-defined
  resources gets a spec-shaped table inside the fused module — one per component instance (not
  per resource: the spec's index space is shared by all resource types of an instance and
  indices are observable), LIFO free list, resource tag checked on every access. Adapters
  (`abi.adapter`'s `ResourceOps` hook) call one generated transfer function per (resource,
  own|borrow, from-instance, to-instance): own = remove from the source table and add to the
  destination; borrow = the rep for the defining instance, otherwise a borrow handle counted in
  the call's borrow scope (trap on return if not dropped); owns lent for the call are tracked
  (`num_lends`) and cannot be dropped or moved meanwhile.

Where they meet: a handle crossing between H (runtime table) and an in-module table would need
the runtime's own table operations inside the adapter (lift = `resource.rep` + a destructor-
suppressed `resource.drop`, lower = `resource.new` of the wrapper-defined type). That is not
implemented: such a crossing is an explicit `UnsupportedFeature`, as is a host resource handle
passed between components (its rep is not ours to read). Without handle-carrying exports there
is no H and every instance uses an in-module table, which is exact.
"""
