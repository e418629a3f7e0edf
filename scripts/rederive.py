"""Re-derive call outcomes from the callback bodies stored with them, for a time range.

    .venv/bin/python scripts/rederive.py --table NAME --from 2026-11-01T00:00:00Z \
        --to 2026-11-02T00:00:00Z [--digits-key dtmf] [--apply]

(or `make rederive FROM=… TO=… [DIGITS_KEY=…] [APPLY=1] [TABLE=…]`). Reads every call that
finished in [from, to), parses its stored CM body again (digits read under `--digits-key`)
and lists the calls whose outcome or digits would change. A dry run by default; `--apply`
writes each change as a correction (`revision` + 1, `corrects: rederived`), which the outbox
publishes as a correcting `DTMF Result`. Running it again changes nothing. Calls whose digits
were not kept (`digits-mode` omit/verify) or whose personal data was erased are left alone and
counted as "not re-derivable". Uses the standard
AWS credentials and `AWS_ENDPOINT_URL*` variables; needs dynamodb:Scan, GetItem, UpdateItem.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "shared"))

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from dtmf_gateway.adapters.dynamodb.correction_store import DynamoDbCorrectionStore
from dtmf_gateway.domain.callbacks import rederive_outcomes


def moment(text: str) -> datetime:
    """An ISO-8601 argument (no offset given: UTC)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 time such as 2026-11-01T00:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME"), help="calls table")
    parser.add_argument("--from", dest="start", required=True, type=moment)
    parser.add_argument("--to", dest="end", required=True, type=moment)
    parser.add_argument("--digits-key", default="digits", help="key that carries the digits")
    parser.add_argument("--apply", action="store_true", help="write the corrections")
    args = parser.parse_args(argv)
    if not args.table:
        parser.error("--table (or TABLE_NAME) is required")
    store = DynamoDbCorrectionStore(boto3.client("dynamodb"), args.table)
    try:
        report = rederive_outcomes(
            store, args.start, args.end, digits_key=args.digits_key, apply=args.apply
        )
    except (BotoCoreError, ClientError) as error:  # a wrong name, no credentials, no access
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    for instruction_id, call_id, was, now in report.changed:
        print(f"{instruction_id} {call_id}: {was} -> {now}")
    mode = "written" if args.apply else "dry run, nothing written (use --apply)"
    counts = f"{report.examined} finished calls, {len(report.changed)} to correct"
    if report.protected:
        counts += f", {report.protected} not re-derivable (digits not kept, or erased)"
    print(f"{counts}, {report.written} {mode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
