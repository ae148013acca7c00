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

Where they meet: the runtime table is exact only while a single instance holds handles. As soon
as several do (a host resource used by two components, handles crossing between the exporting
instance and another), *every* instance gets an in-module table and the runtime's table becomes
a transport (`runtime.RuntimePlan.inmodule`): host-resource entries keep the runtime handle as
their rep; `boundary` generates stand-ins for lowered host calls and lifted root exports that
translate each own/borrow leaf (flat or in memory; host-call argument memory is restored after
the call); an own of a wrapper-defined type enters through `resource.rep` + a `resource.drop`
whose destructor a flag suppresses (`tables._dtor_guard`). Reps are opaque everywhere: no table
reads through one, so any u32 (0 and 0xffffffff included) is a valid rep.

Beside fused async (`merge.asyncres`): an instance's waitables share its numbering. When both
its tables are in-module they draw indices from one `space`; when its waitables are in-module,
its resources are made in-module too (`plan_runtime(inmodule=True)`).

Still refused: a composition-defined resource in a host call's signature, a borrow in an export
result. Not reproduced: lends of handles passed to the host (unobservable while calls are
synchronous); export results in memory are rewritten in place before post-return runs.
"""
