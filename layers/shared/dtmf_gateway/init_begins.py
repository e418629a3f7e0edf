"""Imported first by a handler module (for its effect): no cyclic garbage collection during init.

CPython's cyclic collector runs by itself as init allocates: ~50 passes while a function loads
its dependencies, the later ones walking tens of thousands of objects. Nothing init builds is
garbage for long (modules, clients, models live as long as the environment), so those passes
free almost nothing: measured on place-call's cold start (bench.cold's child, 10 alternating
runs, 2026-11-30), 26-30 ms less CPU with the collector paused, ~0.5 MB more peak RSS, ~1,600
unreachable objects left (frozen with the rest at the end of init).

`heap.pause_collection_for_init` does it, in a Lambda execution environment only; the
function's last init step, `heap.freeze_init_objects`, turns the collector back on. A module
is imported once per process, so this runs once per execution environment, which is exactly
once per init (Lambda loads one handler module per process).
"""

from __future__ import annotations

from dtmf_gateway import heap

heap.pause_collection_for_init()
