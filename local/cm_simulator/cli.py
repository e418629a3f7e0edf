"""Command line: ``python -m cm_simulator [--port 8790] [--product-token T] ...``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from cm_simulator.core import MAX_CALLBACK_RETRIES
from cm_simulator.delivery import DeliveryMode
from cm_simulator.scripts import DEFAULT_BEHAVIOUR, MAGIC_NUMBERS
from cm_simulator.server import (
    DEFAULT_CALLBACK_RETRIES,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_PRODUCT_TOKEN,
    DEFAULT_TIME_SCALE,
    Simulator,
)
from cm_simulator.validation import DEFAULT_MAX_CALLEES

TOKENS_ENV = "CM_SIMULATOR_PRODUCT_TOKENS"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _retries(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_CALLBACK_RETRIES:
        raise argparse.ArgumentTypeError(f"must be 0-{MAX_CALLBACK_RETRIES}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    magic = "\n".join(f"  {number}  {b.value}" for number, b in MAGIC_NUMBERS.items())
    parser = argparse.ArgumentParser(
        prog="python -m cm_simulator",
        description=(
            "Local stand-in for CM.com's Voice API 'Request DTMF' app: serves "
            "POST /voiceapi/v2/DTMF, simulates each call and POSTs a dtmf-finished "
            "callback to the instruction's callback-url. Script callees with "
            "PUT /_simulator/callees/{e164}; see local/cm_simulator/README.md."
        ),
        epilog=(f"Unscripted callees: {DEFAULT_BEHAVIOUR.value}.\nMagic callee numbers:\n{magic}"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on, 0 = any free port (default %(default)s)",
    )
    parser.add_argument(
        "--product-token",
        action="append",
        dest="product_tokens",
        metavar="TOKEN",
        help=(
            f"accepted X-CM-PRODUCTTOKEN (repeatable; else ${TOKENS_ENV}, comma-separated; "
            f"else {DEFAULT_PRODUCT_TOKEN})"
        ),
    )
    parser.add_argument(
        "--time-scale",
        type=_non_negative_float,
        default=DEFAULT_TIME_SCALE,
        help="real seconds per simulated second: 1 = real time, 0 = instant (default %(default)s)",
    )
    parser.add_argument(
        "--callback-retries",
        type=_retries,
        default=DEFAULT_CALLBACK_RETRIES,
        help="extra delivery attempts after a non-2xx or connection error (default %(default)s)",
    )
    parser.add_argument(
        "--delivery",
        choices=[m.value for m in DeliveryMode],
        default=DeliveryMode.NORMAL.value,
        help="callback delivery mode (default %(default)s)",
    )
    parser.add_argument(
        "--max-callees",
        type=_positive_int,
        default=DEFAULT_MAX_CALLEES,
        help="most callees accepted in one request (default %(default)s)",
    )
    parser.add_argument(
        "--hide-keys",
        action="store_true",
        help="log only how many keys were typed, not the keys and digits themselves",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log verbosity (default %(default)s)",
    )
    return parser


def _tokens(given: list[str] | None) -> list[str]:
    if given:
        return given
    from_env = [t.strip() for t in os.environ.get(TOKENS_ENV, "").split(",") if t.strip()]
    return from_env or [DEFAULT_PRODUCT_TOKEN]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    if args.log_level != "DEBUG":  # the simulator logs each callback itself
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)
    tokens = _tokens(args.product_tokens)
    simulator = Simulator(
        host=args.host,
        port=args.port,
        product_tokens=tokens,
        time_scale=args.time_scale,
        callback_retries=args.callback_retries,
        delivery_mode=args.delivery,
        max_callees=args.max_callees,
        log_keys=not args.hide_keys,
    )
    try:
        simulator.start()
    except OSError as exc:
        print(f"cm-simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    if args.host not in LOOPBACK:
        logging.getLogger("cm_simulator").warning(
            "listening on %s: the /_simulator API has no authentication", args.host
        )
    print(
        f"cm-simulator listening on {simulator.url} (product token: {', '.join(tokens)})",
        flush=True,
    )

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("cm_simulator").info(
            "%s received, shutting down", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(1.0):
        pass
    simulator.stop()
    return 0
