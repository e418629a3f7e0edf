"""Thread-safe store of callee scripts and call history."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from cm_simulator.scripts import CalleeScript, ScriptedCall

#: Call-record states, in the order a call passes through them.
STATES = (
    "queued",  # accepted, worker not started yet
    "ringing",
    "in-progress",  # answered: prompts and key collection
    "finished",  # call ended, callback being delivered (or held in out-of-order mode)
    "callback-delivered",  # a delivery attempt got a 2xx
    "callback-failed",  # every delivery attempt failed
    "no-callback",  # the instruction had no callback-url
    "not-dialled",  # invalid callee skipped because of disable-callees-validation
    "aborted",  # the simulator was reset or stopped during the call
)
TERMINAL_STATES = frozenset(
    {"callback-delivered", "callback-failed", "no-callback", "not-dialled", "aborted"}
)


def now_iso() -> str:
    """Current UTC time, ISO-8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """Scripts by normalized number (with how many calls each has served) and call
    records by call-id (insertion ordered)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._scripts: dict[str, CalleeScript] = {}
        self._call_counts: dict[str, int] = {}
        self._calls: dict[str, dict[str, object]] = {}

    # scripts -----------------------------------------------------------------------------

    def set_script(self, number: str, script: CalleeScript) -> None:
        """Replace the script of ``number``; its call count starts again at 0."""
        with self._lock:
            self._scripts[number] = script
            self._call_counts[number] = 0

    def delete_script(self, number: str) -> bool:
        with self._lock:
            self._call_counts.pop(number, None)
            return self._scripts.pop(number, None) is not None

    def scripts(self) -> dict[str, CalleeScript]:
        with self._lock:
            return dict(self._scripts)

    def call_count(self, number: str) -> int:
        """How many calls to ``number`` its current script has served."""
        with self._lock:
            return self._call_counts.get(number, 0)

    def next_call(self, number: str) -> ScriptedCall | None:
        """Count one more call to ``number`` and return the entry its script gives that
        call (the n-th entry, the last one repeating); None when it has no script."""
        with self._lock:
            script = self._scripts.get(number)
            if script is None:
                return None
            count = self._call_counts.get(number, 0) + 1
            self._call_counts[number] = count
            return ScriptedCall(script.entry_for(count), count)

    # calls -------------------------------------------------------------------------------

    def add_call(self, record: dict[str, object]) -> None:
        with self._lock:
            self._calls[str(record["call-id"])] = record

    def update(self, call_id: str, changes: Mapping[str, object]) -> None:
        """Apply ``changes`` to a record (ignored when the record was reset away)."""
        with self._lock:
            record = self._calls.get(call_id)
            if record is not None:
                record.update(changes)

    def append(self, call_id: str, key: str, item: object) -> None:
        """Append ``item`` to the list under ``key`` of a record."""
        with self._lock:
            record = self._calls.get(call_id)
            if record is not None:
                items = record.setdefault(key, [])
                if isinstance(items, list):
                    items.append(item)

    def call(self, call_id: str) -> dict[str, object] | None:
        with self._lock:
            record = self._calls.get(call_id)
            return copy.deepcopy(record) if record is not None else None

    def calls(self, filters: Mapping[str, str] | None = None) -> list[dict[str, object]]:
        """Deep copies of all records whose fields equal every ``filters`` value."""
        with self._lock:
            selected = [
                record
                for record in self._calls.values()
                if all(str(record.get(key)) == value for key, value in (filters or {}).items())
            ]
            return copy.deepcopy(selected)

    def unsettled(self) -> int:
        """Number of calls not yet in a terminal state."""
        with self._lock:
            return sum(1 for r in self._calls.values() if r.get("state") not in TERMINAL_STATES)

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._call_counts.clear()
            self._calls.clear()
