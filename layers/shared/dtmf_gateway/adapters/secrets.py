"""Secrets Manager through Powertools parameters (cached; nothing in env vars or logs).

- CM product token secret: the token itself, or JSON `{"product-token": "..."}`.
- Callback signing secret: JSON `{"current": "...", "previous": "..."}` (previous optional),
  see the README's rotation procedure.
- Digits hash secret (issue 19): JSON `{"current": "...", "previous": "..."}`, the key of the
  keyed hash kept of `expected-digits` (verify mode); rotated like the signing secret.
- Callback base URL (`CALLBACK_BASE_URL`, set by the template: `PublicApiUrl`, else the HTTP
  API's execute-api URL): the public URL under which `/v1/...` routes are reachable. It is
  configuration, not a secret, so it costs no read at all on the cold path.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote

from dtmf_gateway.domain.digits_protection import DigitKeys
from dtmf_gateway.domain.signing import SigningKeys, callback_token
from dtmf_gateway.settings import ConfigurationError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from botocore.client import BaseClient


class ManagedSecrets:
    """Secrets through one Powertools provider (its own client, built once, values cached)."""

    def __init__(
        self,
        provider: SecretsProvider,
        *,
        product_token_secret: str,
        signing_secret: str,
        max_age: int,
        digits_hash_secret: str = "",
    ) -> None:
        self._provider = provider
        self._product_token_secret = product_token_secret
        self._signing_secret = signing_secret
        self._max_age = max_age
        self._digits_hash_secret = digits_hash_secret

    @property
    def aws_client(self) -> BaseClient:
        """The Secrets Manager client the secrets are read with: SnapStart priming calls its
        operation once, answered in-process, reading no secret (`dtmf_gateway.priming`)."""
        client: BaseClient = self._provider.client
        return client

    def product_token(self) -> str:
        raw = str(self._provider.get(self._product_token_secret, max_age=self._max_age))
        value = raw.strip()
        if value.startswith("{"):
            value = str(json.loads(value).get("product-token", "")).strip()
        if not value:
            raise ConfigurationError("the CM product token secret is empty")
        return value

    def signing_keys(self) -> SigningKeys:
        return _signing_keys(str(self._provider.get(self._signing_secret, max_age=self._max_age)))

    def forget(self) -> None:
        """Drop every cached secret value and parsed key (read again on next use): before a
        SnapStart snapshot, so that no secret is frozen into it (`dtmf_gateway.snapstart`)."""
        self._provider.clear_cache()  # type: ignore[no-untyped-call]
        _signing_keys.cache_clear()
        _digit_keys.cache_clear()

    def digit_keys(self) -> DigitKeys:
        """Issue 19: the keys of the expected-digits hash (`DigitKeySource`)."""
        if not self._digits_hash_secret:
            raise ConfigurationError("environment variable DIGITS_HASH_SECRET must be set")
        raw = str(self._provider.get(self._digits_hash_secret, max_age=self._max_age))
        return _digit_keys(raw)


@lru_cache(maxsize=4)
def _digit_keys(raw: str) -> DigitKeys:
    """Parsed once per secret value; the same format as the callback signing secret."""
    try:
        data = json.loads(raw)
        current = str(data["current"]).encode()
        previous = str(data.get("previous") or "").encode() or None
        return DigitKeys(current=current, previous=previous)
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(
            'the digits hash secret must be JSON {"current": ..., "previous": ...}, '
            "current at least 32 characters"
        ) from error


@lru_cache(maxsize=4)
def _signing_keys(raw: str) -> SigningKeys:
    """Parsed once per secret value (the provider caches the value, this the parsing)."""
    try:
        data = json.loads(raw)
        current = str(data["current"]).encode()
        previous = str(data.get("previous") or "").encode() or None
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(
            'the callback signing secret must be JSON {"current": ..., "previous": ...}'
        ) from error
    return SigningKeys(current=current, previous=previous)


class SignedCallbackUrls:
    """`{public base}/v1/callbacks/cm/{instruction-id}?token={HMAC}`."""

    def __init__(self, *, secrets: ManagedSecrets, base_url: str) -> None:
        """``base_url``: http(s) URL without path; ConfigurationError otherwise."""
        value = base_url.strip()
        if not value.startswith(("https://", "http://")):
            raise ConfigurationError("CALLBACK_BASE_URL must be an http(s) URL")
        self._base_url = value.rstrip("/")
        self._secrets = secrets

    def base_url(self) -> str:
        return self._base_url

    def for_instruction(self, instruction_id: str) -> str:
        token = callback_token(self._secrets.signing_keys(), instruction_id)
        return f"{self._base_url}/v1/callbacks/cm/{quote(instruction_id, safe='')}?token={token}"
