"""How much the phone-parse cache saves: a fresh parse vs a cache hit, per number.

Run: ``.venv/bin/python scripts/measure_phone_cache.py`` (prints microseconds per call).
The figures are quoted at ``_CACHE_SIZE`` in ``domain/phone.py``.
"""

from __future__ import annotations

import contextlib
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "shared"))

from dtmf_gateway.domain import phone

NUMBERS = {
    "valid mobile": "+31 6 1234 5678",
    "valid fixed line": "+44 20 7946 0958",
    "invalid (no such range)": "+2691234567",
    "too short": "+3161234",
    "invalid, with length hint": "+12005550123",
}
ROUNDS = 2000


def _fresh(text: str) -> None:
    phone._cache.clear()
    with contextlib.suppress(phone.PhoneNumberError):
        phone.parse_phone(text)


def _cached(text: str) -> None:
    with contextlib.suppress(phone.PhoneNumberError):
        phone.parse_phone(text)


def main() -> None:
    for label, text in NUMBERS.items():
        _fresh(text)  # warm imports and metadata
        fresh = min(timeit.repeat(lambda text=text: _fresh(text), number=ROUNDS, repeat=5)) / ROUNDS
        _cached(text)
        hit = min(timeit.repeat(lambda text=text: _cached(text), number=ROUNDS, repeat=5)) / ROUNDS
        print(f"{label:26} fresh {fresh * 1e6:8.1f} µs   cached {hit * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
