"""Who is calling: the IAM principal behind a SigV4-signed API Gateway request.

Temporary credentials of one role carry a different session name per instance, task or
retry (`arn:aws:sts::123456789012:assumed-role/orders-api/i-0abc…`). The principal is the
role itself, so an idempotent retry from another instance of the same service is still
recognised as the same owner, and so is a status read. (`caller` is the phone number the
callee sees, never the identity.) Handlers read it through `api.gateway.caller`.

A request without an IAM identity has no owner: there is no shared fallback owner under
which such requests could place calls or read each other's instructions. API Gateway refuses
an unsigned request on an AWS_IAM route before the function runs, but the functions do not
rely on that (a route added without AWS_IAM, an emulator that lets a non-SigV4
`Authorization` header through): `NoCallerIdentity` is answered 403 (`api.gateway`).
"""

from __future__ import annotations

import re

_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+$"
)


class NoCallerIdentity(Exception):
    """The request carries no IAM identity (`requestContext.authorizer.iam` missing or
    empty): it belongs to no owner and is refused (403)."""


def principal(*, user_arn: object, caller_id: object = None, account_id: object = None) -> str:
    """The owner name of a request: the role ARN for an assumed role, else the user ARN,
    else the caller id or account (API Gateway's `requestContext.authorizer.iam` fields, as
    found in the event: a field that is not a string counts as missing, so a malformed
    event is 403, never a 5xx).

    Raises NoCallerIdentity when all of them are missing or empty."""
    arn = _text(user_arn)
    match = _ASSUMED_ROLE.match(arn)
    if match:
        return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"
    owner = arn or _text(caller_id) or _text(account_id)
    if not owner:
        raise NoCallerIdentity
    return owner


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
