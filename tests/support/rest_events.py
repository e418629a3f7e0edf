"""REST API (payload format 1.0) proxy events, for driving the functions with the shape a REST
API hands them: the path still percent-encoded. Built from an HTTP API payload 2.0 event of
devtools.lambdas.http_event, as API Gateway REST would send the same request (stage `v1`, so
`path` has no `/v1`; the IAM caller under `requestContext.identity`)."""

from __future__ import annotations

import copy
from typing import Any


def rest_event(
    http: dict[str, Any], *, path: str, path_parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """The REST API event for the request ``http`` describes, with ``path`` (after `/v1`, as
    the client sent it: encoded) and ``path_parameters`` (likewise encoded)."""
    context = http["requestContext"]
    iam = (context.get("authorizer") or {}).get("iam") or {}
    method = context["http"]["method"]
    resource = http["routeKey"].split(" ", 1)[1].removeprefix("/v1")
    query = http.get("queryStringParameters")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": copy.deepcopy(http["headers"]),
        "multiValueHeaders": {k: [v] for k, v in http["headers"].items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": context["accountId"],
            "apiId": context["apiId"],
            "domainName": context["domainName"],
            "httpMethod": method,
            "identity": {
                "accessKey": iam.get("accessKey"),
                "accountId": iam.get("accountId"),
                "caller": iam.get("callerId"),
                "sourceIp": context["http"]["sourceIp"],
                "user": iam.get("userId"),
                "userAgent": context["http"]["userAgent"],
                "userArn": iam.get("userArn"),
            },
            "path": f"/v1{path}",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": context["time"],
            "requestTimeEpoch": context["timeEpoch"],
            "resourcePath": resource,
            "stage": "v1",
        },
        "body": http.get("body"),
        "isBase64Encoded": bool(http.get("isBase64Encoded")),
    }
