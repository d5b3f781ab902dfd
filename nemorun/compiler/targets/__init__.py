"""nemorun's built-in targets, one module each plus its template(s).

Each module holds the target's options dataclass (its engine's own words, each value's format
declared on its field), its pure ``plan`` and the `nemorun.registry.TargetDef` that names them
as ``TARGET``; `nemorun.registry` finds them by name. The launch halves live in
`nemorun.launchers`, imported only when launching.
"""
