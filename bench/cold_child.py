# Child process of bench.cold. The clock starts on the next statement: nothing in this file
# runs before it, so "init" below is everything from the first line of a bootstrap script to
# the end of the handler module's execution, the part of a Lambda cold start the product owns.
import time

_T0 = time.perf_counter()
_C0 = time.process_time()  # CPU time: robust to a loaded machine (other processes' work)

import sys  # noqa: E402

MARK = "BENCH-RESULT "


def _split(arg: str) -> list[str]:
    return [item for item in arg.split(",") if item]


def _function() -> dict[str, object]:
    """Import the handler module exactly as the Lambda runtime does (`app` from the task root)."""
    __import__("app")  # the import statement's path (what -X importtime instruments)
    return {}


HTTPS = "https@httpx"  # a client spec: httpx's default TLS context (see _probe_clients)


PAUSED = "gc-paused"  # the floor's third argument when the function pauses the collector


def _floor(modules: str, clients: str, gc_policy: str = "") -> dict[str, object]:
    """Import the same third-party modules, create the same AWS clients and (when the handler
    made one at load) httpx's default TLS context, nothing else; with ``gc_policy`` PAUSED,
    without the cyclic collector, as the function's init runs (`dtmf_gateway.init_begins`):
    like with like."""
    if gc_policy == PAUSED:
        import gc

        gc.disable()
    failed = []
    for name in _split(modules):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - reported; a module the handler had may be synthetic
            failed.append(name)
    started = time.perf_counter()
    https_cpu_ms = 0.0
    if clients:
        import boto3

        sessions: dict[str, object] = {}
        for spec in _split(clients):
            service, _, session = spec.partition("@")
            if spec == HTTPS:
                import httpx

                cpu = time.process_time()
                httpx.create_ssl_context()  # what every httpx.Client()/AsyncClient() builds
                https_cpu_ms += (time.process_time() - cpu) * 1000
            elif session in ("", "default"):
                boto3.client(service)  # type: ignore[call-overload]
            else:
                sessions.setdefault(session, boto3.session.Session())
                sessions[session].client(service)  # type: ignore[attr-defined]
    return {
        "failed_imports": failed,
        "clients_ms": (time.perf_counter() - started) * 1000,
        "https_cpu_ms": https_cpu_ms,
    }


def _hello() -> dict[str, object]:
    """A bare Powertools handler: Logger, Metrics, the HTTP API resolver and one constant route."""
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    logger = Logger()
    metrics = Metrics()
    app = APIGatewayHttpResolver()

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    @logger.inject_lambda_context
    @metrics.log_metrics
    def handler(event: dict[str, object], context: object) -> dict[str, object]:
        return app.resolve(event, context)

    return {"handler": handler.__name__}


def _probe_modules() -> dict[str, object]:
    """Which third-party modules the handler module ends up importing, in import order."""
    before = set(sys.modules)
    __import__("app")
    import sysconfig

    stdlib_dirs = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
    first_party = {"app", "dtmf_gateway"}
    stdlib = sys.stdlib_module_names | set(sys.builtin_module_names)
    main = sys.modules["__main__"]
    names = []
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if name in before or module is None or module is main:
            continue
        if top in stdlib or top in first_party:
            continue
        where = getattr(module, "__file__", None) or ""
        if where.startswith(stdlib_dirs) and "-packages" not in where:
            continue  # e.g. _sysconfigdata_*: generated, but part of the standard library
        names.append(name)
    from importlib import metadata

    dists = metadata.packages_distributions()
    tops = sorted({n.partition(".")[0] for n in names})
    return {
        "modules": names,
        "top_level": {top: sorted(set(dists.get(top, ["?"]))) for top in tops},
        "first_party": sorted(n for n in sys.modules if n.partition(".")[0] in first_party),
    }


def _probe_clients() -> dict[str, object]:
    """Which AWS clients module load creates (botocore's create_client, recorded), and whether
    it makes httpx's default TLS context (``httpx.create_ssl_context`` with its defaults, as
    every ``httpx.Client()`` does; once however often: the floor builds one)."""
    import boto3
    import botocore.session
    import httpx
    import httpx._transports.default

    created: list[str] = []
    original = botocore.session.Session.create_client

    def recording(self: object, service_name: str, *args: object, **kwargs: object) -> object:
        default = boto3.DEFAULT_SESSION is not None and boto3.DEFAULT_SESSION._session is self
        created.append(f"{service_name}@{'default' if default else id(self)}")
        return original(self, service_name, *args, **kwargs)  # type: ignore[arg-type]

    botocore.session.Session.create_client = recording  # type: ignore[method-assign,assignment]
    original_tls = httpx.create_ssl_context

    def recording_tls(*args: object, **kwargs: object) -> object:
        verify = kwargs.get("verify", args[0] if args else True)
        cert = kwargs.get("cert", args[1] if len(args) > 1 else None)
        if verify is True and cert is None and HTTPS not in created:
            created.append(HTTPS)
        return original_tls(*args, **kwargs)  # type: ignore[arg-type]

    for module in (httpx, httpx._config, httpx._transports.default):
        module.create_ssl_context = recording_tls  # type: ignore[attr-defined]
    __import__("app")
    return {"clients": created}


def main() -> None:
    mode = sys.argv[1]
    if mode == "function":
        extra = _function()
    elif mode == "hello":
        extra = _hello()
    elif mode == "floor":
        extra = _floor(*sys.argv[2:5])
    elif mode == "probe-modules":
        extra = _probe_modules()
    elif mode == "probe-clients":
        extra = _probe_clients()
    else:
        raise SystemExit(f"unknown mode {mode}")
    init_ms = (time.perf_counter() - _T0) * 1000
    init_cpu_ms = (time.process_time() - _C0) * 1000
    import json

    result = {"init_ms": init_ms, "init_cpu_ms": init_cpu_ms, **extra}
    sys.stdout.write("\n" + MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


main()
