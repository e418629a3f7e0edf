"""The signing-key rotation the README documents never refuses a genuine callback, with each
environment holding the secret up to SECRETS_MAX_AGE_SECONDS (issue 15, the secret cache).

Every step waits at least the max age, so at any moment each environment holds the value of
the latest step or the one before: a callback signed in any environment must be accepted by
any environment in either of those states, and by the next step's (the call may outlast it).
"""

from __future__ import annotations

import re

import pytest

from devtools.template import ROOT
from dtmf_gateway.domain.signing import SigningKeys, callback_token, token_is_valid
from dtmf_gateway.settings import settings

OLD = b"o" * 48
NEW = b"n" * 48
README = (ROOT / "README.md").read_text()

# the README's three steps, from the value before them
STEPS = [
    SigningKeys(current=OLD),
    SigningKeys(current=OLD, previous=NEW),  # 1. accept the new key
    SigningKeys(current=NEW, previous=OLD),  # 2. sign with it
    SigningKeys(current=NEW),  # 3. drop the old one
]


@pytest.mark.parametrize("signed_in", range(len(STEPS)))
def test_a_token_signed_at_any_step_is_accepted_wherever_it_can_arrive(signed_in: int) -> None:
    token = callback_token(STEPS[signed_in], "order-7781-pin")
    # an environment one step behind (not refreshed yet), or any later one (the call may
    # outlast the waits) — but the old key is dropped only after every call it signed ended
    for verifier in range(max(signed_in - 1, 0), len(STEPS)):
        if STEPS[signed_in].current == OLD and verifier == len(STEPS) - 1:
            continue
        assert token_is_valid(STEPS[verifier], "order-7781-pin", token), (signed_in, verifier)


def test_two_steps_would_refuse_a_callback_in_an_environment_a_step_behind() -> None:
    signed_with_new = callback_token(SigningKeys(current=NEW, previous=OLD), "order-7781-pin")

    assert not token_is_valid(SigningKeys(current=OLD), "order-7781-pin", signed_with_new)


def test_the_readme_states_the_cache_bound_the_functions_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SECRETS_MAX_AGE_SECONDS", raising=False)
    settings.cache_clear()
    try:
        bound = settings().secrets_max_age
    finally:
        settings.cache_clear()

    assert bound == 300
    assert f"`SECRETS_MAX_AGE_SECONDS` ({bound} s)" in README
    assert re.search(r"after SECRETS_MAX_AGE_SECONDS \(5 min\)", README)
