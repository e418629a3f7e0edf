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
UpdateItem on the calls table and Scan, GetItem, UpdateItem on the idempotency table.

The stored answers are found under the place-call function's name (Powertools names its
records after it). No stack output names it, so the command reads the names the idempotency
table's records carry: `--place-call-function` may be left out when they name one function,
and a name no record carries is refused (a guessed name would otherwise erase the table's
items and silently leave the numbers in the stored answers a replay returns).
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "shared"))

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from dtmf_gateway.adapters.dynamodb.correction_store import instructions_with_number
from dtmf_gateway.adapters.dynamodb.erasure_store import (
    PLACEMENT_FUNCTION,
    DynamoDbErasureStore,
)
from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader
from dtmf_gateway.domain.erasure import EraseInstruction, erase_by_number
from dtmf_gateway.domain.phone import PhoneNumberError, parse_phone


def e164(text: str) -> str:
    """A phone number argument in E.164 (as the table stores numbers)."""
    try:
        return parse_phone(text).e164
    except PhoneNumberError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a phone number: {error}") from None


def placement_function_names(client: Any, idempotency_table: str) -> set[str]:
    """The place-call function names the idempotency table's placement records carry."""
    marker = f".{PLACEMENT_FUNCTION}#"
    names: set[str] = set()
    pages = client.get_paginator("scan").paginate(
        TableName=idempotency_table,
        ProjectionExpression="#id",
        ExpressionAttributeNames={"#id": "id"},
    )
    for page in pages:
        for item in page.get("Items", []):
            record_id = item.get("id", {}).get("S", "")
            if marker in record_id:
                names.add(record_id.split(marker, 1)[0])
    return names


def checked_function_name(given: str | None, found: set[str]) -> str:
    """The place-call function's name to erase stored answers under: `given` if some record
    carries it (or there are none), else the only name the records carry. ValueError when
    `given` is carried by no record while others are, or when it is needed and ambiguous."""
    if given:
        if found and given not in found:
            raise ValueError(
                f"no idempotency record of place-call function {given!r}; the table's "
                f"records name {', '.join(sorted(found))} (pass that as --place-call-function)"
            )
        return given
    if len(found) > 1:
        raise ValueError(
            "the idempotency table holds records of several place-call functions "
            f"({', '.join(sorted(found))}): pass --place-call-function"
        )
    return next(iter(found), "no-record")


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
        help="the place-call function's name (its idempotency records; read from the "
        "records when left out, checked against them when given)",
    )
    parser.add_argument("--apply", action="store_true", help="erase (default: list only)")
    args = parser.parse_args(argv)
    for option in ("table", "idempotency_table"):
        if not getattr(args, option):
            parser.error(f"--{option.replace('_', '-')} is required")
    client = boto3.client("dynamodb")
    finder = partial(instructions_with_number, client, args.table)
    try:
        try:  # checked in the dry run too: a wrong name must show before anything is erased
            function_name = checked_function_name(
                args.place_call_function,
                placement_function_names(client, args.idempotency_table),
            )
        except ValueError as error:
            parser.exit(2, f"{parser.prog}: error: {error}\n")
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
                placement_function_name=function_name,
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
