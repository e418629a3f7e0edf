"""The one place a handler meets API Gateway: the resolver, the caller, the Lambda entry point.

The API is an API Gateway **HTTP API** (payload format 2.0, `template.yaml`, "API"). Every
function behind it is written the same way, so a new route is three lines of wiring:

    from dtmf_gateway.api import gateway

    app = gateway.resolver()                      # routes are declared without the /v1 prefix
                                                  # (and need an IAM identity: 403 without)

    @app.get("/dtmf-calls/<raw_instruction_id>")
    def get_dtmf_call(raw_instruction_id: str) -> Response[str]:
        owner = gateway.caller(app)               # the IAM principal (AWS_IAM routes only)
        ...

    register(app, read_problems())
    handler = gateway.lambda_handler(app)

Event shapes (AWS docs, "Working with AWS Lambda proxy integrations for HTTP APIs"): the
routes live on the `$default` stage under route keys that carry `/v1` (`POST /v1/dtmf-calls`),
so `rawPath` is the public path on AWS and on the local emulator alike. An HTTP API hands the
function `rawPath` and `pathParameters` already percent-decoded, and they are used as given;
a REST API's event (payload 1.0, path still encoded) is read as the HTTP API's, its path
decoded once (`api.event_shapes`). Path segments that name an instruction go through
`api.paths.path_instruction_id`, which holds the id rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import heap, snapstart
from dtmf_gateway.api.event_shapes import answer_for, as_http_api
from dtmf_gateway.api.identity import NoCallerIdentity, principal
from dtmf_gateway.api.problems import ProblemAnswer
from dtmf_gateway.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

API_PREFIX = "/v1"
# requestContext.requestId of a payload 2.0 event: every log line of a request carries it
REQUEST_ID_PATH = "requestContext.requestId"

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def resolver(*, iam: bool = True) -> APIGatewayHttpResolver:
    """A resolver for the HTTP API's payload 2.0 events; routes are declared without `/v1`.

    ``iam``: every route of the function serves an IAM principal (an owner). A request that
    reaches such a route without an IAM identity is answered 403 (`forbidden` problem) before
    the route runs, whatever its path or body. Only the CM callback route (no IAM; its token
    authenticates) passes ``iam=False``.
    """
    app = APIGatewayHttpResolver(strip_prefixes=[API_PREFIX])
    app.exception_handler(NoCallerIdentity)(_unidentified)
    if iam:
        app.use(middlewares=[_identified])
    return app


def caller(app: APIGatewayHttpResolver) -> str:
    """The IAM principal of the request being handled (see `api.identity.principal`).

    Read from `requestContext.authorizer.iam`, which API Gateway fills on AWS_IAM routes
    only; on a route without IAM (the CM callback) there is no caller. Raises
    NoCallerIdentity (answered 403) when the event carries no IAM identity.
    """
    iam = app.current_event.request_context.authorizer.iam
    return principal(user_arn=iam.user_arn, caller_id=iam.caller_id, account_id=iam.account_id)


def _identified(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    caller(app)  # raises NoCallerIdentity: nothing of the route runs
    return next_middleware(app)


def _unidentified(_: NoCallerIdentity) -> Response[str]:
    problem = ProblemAnswer(
        403,
        "forbidden",
        "Forbidden",
        "The request carries no IAM identity: sign it with SigV4 (service execute-api).",
        warning="request without an IAM identity refused",
    )
    problem.observe()
    return problem.response()


def lambda_handler(
    app: APIGatewayHttpResolver,
    *,
    correlate: bool = True,
    cold_start_metric: bool = False,
    prime: str | None = None,
) -> LambdaHandler:
    """The function's entry point: resolve ``app`` with a fresh logger context and metrics.

    ``correlate``: log lines carry the API request id as correlation id until the handler sets
    a better one (the instruction id). ``cold_start_metric``: emit Powertools' ColdStart metric.
    ``prime``: the name of the function's SnapStart primer in `dtmf_gateway.priming` (e.g.
    ``"place_call"``), run before the snapshot in a SnapStart init only, after
    `priming.api_event` (every API function's).
    Called last in init: in Lambda it freezes init's objects out of later garbage collections
    (`heap.freeze_init_objects`).
    """
    correlation_id_path = REQUEST_ID_PATH if correlate else None
    # every function behind the API may be snapshotted (SnapStart=true): its hooks reseed
    # `random` after each restore even when init builds no secret cache or CM client
    if snapstart.install():
        # a SnapStart init primes the event handling every request starts with, and the
        # function's own work; `priming` is imported only then: elsewhere nothing would run
        # it, and every other cold start would pay for loading it (issue 15, lean cold path)
        from dtmf_gateway import priming

        snapstart.prime_before_snapshot(functools.partial(priming.api_event, correlation_id_path))
        if prime is not None:
            snapstart.prime_before_snapshot(getattr(priming, prime))

    @logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=cold_start_metric)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        answer: dict[str, Any] = app.resolve(as_http_api(event), context)
        return answer_for(event, answer)

    # the last line of every API function's init (`handler = gateway.lambda_handler(app)`):
    # what init made is never traversed by the garbage collector again (`heap`)
    heap.freeze_init_objects()
    return cast(LambdaHandler, handler)
