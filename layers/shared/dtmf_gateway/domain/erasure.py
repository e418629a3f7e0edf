"""Erasing an instruction's personal data (issue 19): `DELETE /v1/dtmf-calls/{id}/personal-data`.

Personal data are the phone numbers (``callee``/``callees`` and ``caller``), the typed digits,
the prompts (they may name the person), ``metadata``, the stored callback bodies and the keyed
hash of ``expected-digits``; they are removed from the instruction, its calls and the stored
answer of its idempotency record. Ids, statuses, outcomes, ``verified`` and times stay, and
the instruction says when: ``erased-at``. Erased strings read as null, ``metadata`` as ``{}``.

Idempotent: erasing again changes nothing (``erased-at`` keeps the first time) and answers the
same. Only the principal that placed the instruction may erase it; to anyone else it does not
exist (404, as GET). A result that arrives afterwards is recorded without personal data
(:class:`~dtmf_gateway.domain.callbacks.RecordCallback`); an erased instruction's id can never
be placed again, and nothing that was not yet placed will be (round 1 places everything in the
POST; a placement still running when the erasure lands scrubs the calls it records). A
scheduled callee still waiting is never dialled: when its schedule fires (or on a cancel) it
ends `cancelled` and its `DTMF Call Not Placed` carries no number; the stored schedule and the
one-time schedules name callees by their index, never by number (domain.dialling).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from dtmf_gateway.domain.calls import iso, utc_now
from dtmf_gateway.domain.errors import InstructionNotFound
from dtmf_gateway.domain.reading import ReadInstruction

if TYPE_CHECKING:
    from datetime import datetime

    from dtmf_gateway.domain.ports import ErasureStore, InstructionReader
    from dtmf_gateway.domain.reading import InstructionState

#: A phone number as free text may carry it: 7 or more digits, with an optional leading `+`
#: and the separators people and CM write between them.
_NUMBER_IN_TEXT: Final = re.compile(r"\+?\d(?:[\d \-./()]*\d){6,}")
ERASED_TEXT: Final = "[erased]"


def without_numbers(text: str) -> str:
    """CM's free text (a refusal's reason, a callee's `error`) with every phone-number-like
    run replaced by ``[erased]``: CM may name the number in it, the reason itself stays."""
    return _NUMBER_IN_TEXT.sub(ERASED_TEXT, text)


class EraseInstruction:
    """Use case behind `DELETE /v1/dtmf-calls/{instruction-id}/personal-data`."""

    def __init__(
        self,
        reader: InstructionReader,
        store: ErasureStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._reader = reader
        self._store = store
        self._clock = clock
        self._read = ReadInstruction(reader, clock)

    def erase(self, instruction_id: str, *, owner: str) -> InstructionState:
        """Erase the instruction's personal data and return it as it now reads.

        Raises InstructionNotFound when there is no such instruction (or it is past its
        retention) or ``owner`` did not place it."""
        found = self._reader.load(instruction_id)
        if found is None or found[0].owner != owner:
            raise InstructionNotFound(instruction_id)
        instruction, calls = found
        erased_at = instruction.erased_at or iso(self._clock())
        self._store.erase_instruction(instruction_id, erased_at)
        # read again once marked: a scheduled callee's dial that records its call after this
        # read finds the mark and erases the call itself (ScheduleStore.record_call)
        again = self._reader.load(instruction_id)
        recorded = [*calls, *(again[1] if again is not None else [])]
        for call_id in dict.fromkeys(c.call_id for c in recorded):
            self._store.erase_call(instruction_id, call_id, erased_at)
        if instruction.idempotency_key is not None:
            self._store.erase_idempotency_record(instruction.owner, instruction.idempotency_key)
        return self._read.read(instruction_id, owner=owner)


def erase_by_number(
    finder: Callable[[str, str], list[str]],
    eraser: EraseInstruction,
    *,
    owner: str,
    number: str,
) -> list[str]:
    """Erase every instruction of ``owner`` whose caller or one of whose callees is
    ``number`` (E.164); ``finder(owner, number)`` lists their ids. Returns the ids erased."""
    erased: list[str] = []
    for instruction_id in finder(owner, number):
        try:
            eraser.erase(instruction_id, owner=owner)
        except InstructionNotFound:
            continue  # gone meanwhile (retention)
        erased.append(instruction_id)
    return erased
