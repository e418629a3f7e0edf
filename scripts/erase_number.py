"""Erase the personal data of every instruction a principal placed to or from one number.

    .venv/bin/python scripts/erase_number.py --owner arn:aws:iam::123456789012:role/orders \
        --number +31612345678 [--apply] [--table NAME] [--idempotency-table NAME] \
        [--place-call-function NAME]

(or `make erase-number OWNER=… NUMBER=… [APPLY=1] [TABLE=…] [IDEMPOTENCY_TABLE=…]
[PLACE_CALL_FUNCTION=…]`). Finds, by a scan of the calls table, the instructions of `--owner`
(the IAM principal as the API records it: a role, not a session) whose caller or one of whose
callees is `--number`, and erases each exactly as `DELETE /v1/dtmf-calls/{id}/personal-data`
does (numbers, digits, prompts, metadata, stored callback bodies; in the table and in the
stored idempotency answers). A dry run by default (lists the ids); `--apply` erases. Running
it again erases nothing new (erased instructions no longer hold the number).

Why an operator command and not a route: a request to erase "everything about this person"
reaches the operator (the data controller), rarely, and must cover every instruction however
old; a route would need either a scan inside API Gateway's 29 seconds or a new index of owner
and number on every item — one more copy of the numbers, paid on every write. Uses the standard
AWS credentials and `AWS_ENDPOINT_URL*` variables; needs dynamodb:Scan, Query, GetItem,
UpdateItem on the calls table and GetItem, UpdateItem on the idempotency table.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "shared"))

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from dtmf_gateway.adapters.dynamodb.correction_store import instructions_with_number
from dtmf_gateway.adapters.dynamodb.erasure_store import DynamoDbErasureStore
from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader
from dtmf_gateway.domain.erasure import EraseInstruction, erase_by_number
from dtmf_gateway.domain.phone import PhoneNumberError, parse_phone


def e164(text: str) -> str:
    """A phone number argument in E.164 (as the table stores numbers)."""
    try:
        return parse_phone(text).e164
    except PhoneNumberError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a phone number: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--owner", required=True, help="the IAM principal (role ARN)")
    parser.add_argument("--number", required=True, type=e164, help="E.164, e.g. +31612345678")
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME"), help="calls table")
    parser.add_argument(
        "--idempotency-table",
        default=os.environ.get("IDEMPOTENCY_TABLE_NAME"),
        help="idempotency table",
    )
    parser.add_argument(
        "--place-call-function",
        default=os.environ.get("PLACE_CALL_FUNCTION_NAME"),
        help="the place-call function's name (its idempotency records)",
    )
    parser.add_argument("--apply", action="store_true", help="erase (default: list only)")
    args = parser.parse_args(argv)
    for option in ("table", "idempotency_table", "place_call_function"):
        if not getattr(args, option):
            parser.error(f"--{option.replace('_', '-')} is required")
    client = boto3.client("dynamodb")
    finder = partial(instructions_with_number, client, args.table)
    try:
        if not args.apply:
            found = finder(args.owner, args.number)
            for instruction_id in found:
                print(instruction_id)
            print(f"{len(found)} instructions to erase; dry run, nothing erased (use --apply)")
            return 0
        eraser = EraseInstruction(
            DynamoDbInstructionReader(client, args.table),
            DynamoDbErasureStore(
                client,
                args.table,
                idempotency_table_name=args.idempotency_table,
                placement_function_name=args.place_call_function,
            ),
        )
        erased = erase_by_number(finder, eraser, owner=args.owner, number=args.number)
    except (BotoCoreError, ClientError) as error:  # a wrong name, no credentials, no access
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    for instruction_id in erased:
        print(instruction_id)
    print(f"{len(erased)} instructions erased")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
