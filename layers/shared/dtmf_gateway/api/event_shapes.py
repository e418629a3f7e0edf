"""The two event shapes API Gateway can hand a function, read as one: the HTTP API's.

The stack's API is an HTTP API (payload format 2.0): API Gateway percent-decodes the path
before the function sees it (`rawPath`, `pathParameters`; captures of live HTTP APIs show
even a decoded `?`), so the functions take the path as given and never decode it again.
A REST API's Lambda proxy event (payload format 1.0, no `version` key) leaves the path
percent-encoded; `as_http_api` turns such an event into the payload 2.0 event an HTTP API
would have built for the same request, decoding the path exactly once on the way. Either
way the id rule (`api.paths`) sees a path that was decoded once — never twice, never not at
all. (An HTTP API's own payload 1.0 events, `"version": "1.0"`, arrive decoded like its
2.0 events and are converted without decoding.)

AWS docs, "Working with AWS Lambda proxy integrations for HTTP APIs" (payload formats 1.0
and 2.0) and "Set up Lambda proxy integrations in API Gateway" (REST's input and output).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes, urlencode

HTTP_API_PAYLOAD = "2.0"


def as_http_api(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as an HTTP API payload 2.0 event with its path percent-decoded once.

    A 2.0 event (and anything that is not an API Gateway proxy event) is returned as is.
    A payload 1.0 event becomes the 2.0 event for the same request: path decoded once when it
    came from a REST API (no `version`), taken as is from an HTTP API (`"version": "1.0"`);
    repeated headers and query parameters joined with commas, as 2.0 joins them; the IAM
    caller (`requestContext.identity`) moved to `requestContext.authorizer.iam`.
    """
    if event.get("version") == HTTP_API_PAYLOAD or "httpMethod" not in event:
        return event
    decode = _decoded_path if event.get("version") is None else _as_given
    context = event.get("requestContext") or {}
    identity = context.get("identity") or {}
    path = decode(str(event.get("path") or "/"))
    method = str(event["httpMethod"])
    query = _joined(
        event.get("multiValueQueryStringParameters"), event.get("queryStringParameters")
    )
    http_context: dict[str, Any] = {
        "accountId": context.get("accountId"),
        "apiId": context.get("apiId"),
        "domainName": context.get("domainName"),
        "http": {
            "method": method,
            "path": path,
            "protocol": context.get("protocol", "HTTP/1.1"),
            "sourceIp": identity.get("sourceIp"),
            "userAgent": identity.get("userAgent"),
        },
        "requestId": context.get("requestId"),
        "routeKey": f"{method} {event.get('resource') or path}",
        # REST's `path` has no stage; a 2.0 event's `rawPath` starts with any stage but
        # `$default`, which Powertools strips
        "stage": "$default",
        "time": context.get("requestTime"),
        "timeEpoch": context.get("requestTimeEpoch"),
    }
    if identity.get("userArn") or identity.get("caller"):
        http_context["authorizer"] = {
            "iam": {
                "accessKey": identity.get("accessKey"),
                "accountId": identity.get("accountId"),
                "callerId": identity.get("caller"),
                "userArn": identity.get("userArn"),
                "userId": identity.get("user"),
            }
        }
    parameters = event.get("pathParameters")
    return {
        "version": HTTP_API_PAYLOAD,
        "routeKey": http_context["routeKey"],
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {
            name.lower(): value
            for name, value in (
                _joined(event.get("multiValueHeaders"), event.get("headers")) or {}
            ).items()
        },
        "queryStringParameters": query,
        "pathParameters": (
            {name: decode(str(value)) for name, value in parameters.items()}
            if isinstance(parameters, dict)
            else None
        ),
        "stageVariables": event.get("stageVariables"),
        "requestContext": http_context,
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded")),
    }


def answer_for(event: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The resolver's payload 2.0 answer in the shape ``event``'s API expects: a payload 1.0
    answer has no `cookies` (the functions set none) — REST's output format."""
    if event.get("version") == HTTP_API_PAYLOAD or "httpMethod" not in event:
        return answer
    return {key: value for key, value in answer.items() if key != "cookies"}


def _as_given(path: str) -> str:
    return path


def _decoded_path(path: str) -> str:
    """Each `/`-separated segment percent-decoded once as UTF-8 (so an encoded `%2F` becomes
    a `/` inside the path, as an HTTP API decodes it); a segment whose escapes are not UTF-8
    is left as sent — it still holds a `%`, which no id does, so it names nothing."""
    return "/".join(_decoded_segment(segment) for segment in path.split("/"))


def _decoded_segment(segment: str) -> str:
    try:
        return unquote_to_bytes(segment).decode("utf-8", errors="strict")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return segment


def _joined(multi: Any, single: Any) -> dict[str, str] | None:
    """Payload 1.0's parameters as 2.0 has them: repeated values joined with commas."""
    if isinstance(multi, dict) and multi:
        return {str(k): ",".join(str(v) for v in values or ()) for k, values in multi.items()}
    if isinstance(single, dict) and single:
        return {str(k): str(v) for k, v in single.items()}
    return None
