"""The DTMF keypad and CM's digit limits: the facts every digit rule starts from.

Sources: CM's Request DTMF reference page (``min-digits``/``max-digits`` 1-64) and the
sixteen DTMF keys of ITU-T Q.23 (``0-9 * #`` and the rarely used fourth column ``A-D``).
"""

from __future__ import annotations

from typing import Final

#: Every key of a DTMF keypad (A-D are the rarely used fourth column).
DTMF_KEYS: Final = "0123456789*#ABCD"
DTMF_KEY_SET: Final = frozenset(DTMF_KEYS)

#: Limits of ``min-digits`` / ``max-digits`` (CM: 1-64).
MIN_DIGITS_LIMIT: Final = 1
MAX_DIGITS_LIMIT: Final = 64
DEFAULT_MIN_DIGITS: Final = 1
DEFAULT_MAX_DIGITS: Final = 64


def is_dtmf(text: str) -> bool:
    """True when every character of ``text`` is a DTMF key (``0-9 * # A-D``)."""
    return all(ch in DTMF_KEY_SET for ch in text)
