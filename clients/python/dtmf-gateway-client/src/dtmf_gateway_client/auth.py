"""SigV4 request signing as an `httpx.Auth`, with botocore's own signer (`SigV4Auth`)."""

from __future__ import annotations

from collections.abc import Generator

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

SERVICE = "execute-api"
_SIGNED = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")


class SigV4(httpx.Auth):
    """Signs each request for API Gateway (`execute-api`) in `region` with `credentials`
    (refreshable botocore credentials are re-read for every request, so a long-lived client
    follows their rotation)."""

    requires_request_body = True

    def __init__(self, credentials: Credentials, region: str, service: str = SERVICE) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        frozen: ReadOnlyCredentials = self._credentials.get_frozen_credentials()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SIGNED}
        signable = AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=headers
        )
        SigV4Auth(frozen, self._service, self._region).add_auth(signable)
        for name, value in signable.headers.items():
            request.headers[name] = value
        yield request
