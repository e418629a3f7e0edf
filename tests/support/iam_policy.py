"""Least privilege, checked without deploying: what each function's code can call on AWS,
against what its execution role in the SAM-translated template grants.

What a function can call is found from the code, by pattern, so it survives refactoring:

1. **Client calls.** Every `<client>.<operation>(...)` in the package (any module under
   `dtmf_gateway/`, adapters or not) whose receiver is a boto3 client: a name or `self.`
   attribute annotated or assigned with a `mypy_boto3_<service>` client type, or assigned from
   `boto3.client("<service>")` (or any `client("<service>")`: a session's, `service_name=`).
   The operation name is mapped to the IAM action through botocore's service model
   (`put_item` → `dynamodb:PutItem`); `get_paginator("op")` is the operation,
   `get_waiter("name")` the one its waiter polls, `getattr(client, "op")` the one it names. A
   call of a known operation on a receiver the scan cannot type is reported, not guessed.
   Not seen: which table a call names itself (its resource is the adapter's, below).
2. **Library calls** (`LIBRARY_CALLS`): AWS calls made inside libraries the package
   constructs (Powertools' idempotency layer and parameter providers).
3. **Platform calls** (`platform_calls`): what Lambda itself does with the function's
   role, read from the SAM template (on-failure destinations, stream reads), and the managed
   policies SAM attaches for logs and tracing.

Calls are attributed to a function through what its entry module references (the module
its `Handler` names under its `CodeUri`: `functions/<name>/app.py`, or `local/cm_sandbox/app.py`
for `cm_sandbox.app.handler`), followed through the scanned packages (`dtmf_gateway`, and
`cm_sandbox` for the CM sandbox) to the classes and functions that make them. The resource of a
call is found where its adapter (or library object) is constructed: the `Settings` fields
passed in (`s.table_name`) name environment variables (`settings.py`), and so does an
environment variable's name written there (`_config("CM_SANDBOX_TABLE_NAME")`); the function's
template values of those variables name the resources (`!Ref CallsTable`). A query with an
`IndexName` targets the index.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "shared" / "dtmf_gateway"
# scanned with the package: the CM sandbox's own adapters (CmSandboxFunction, CmSandbox=true)
SANDBOX_PACKAGE = ROOT / "local" / "cm_sandbox"
SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"

# AWS calls made inside libraries, by the class the package constructs. Sources: Powertools
# idempotency (BasePersistenceLayer → DynamoDBPersistenceLayer._get_record/_put_record/
# _update_record/_delete_record), parameters (SecretsProvider._get → get_secret_value,
# SSMProvider._get → get_parameter).
LIBRARY_CALLS: dict[str, tuple[str, ...]] = {
    "DynamoDBPersistenceLayer": (
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ),
    "SecretsProvider": ("secretsmanager:GetSecretValue",),
    "SSMProvider": ("ssm:GetParameter",),
}

# The resource type each service's calls address (for finding a call's resource).
RESOURCE_TYPES = {
    "dynamodb": "AWS::DynamoDB::Table",
    "secretsmanager": "AWS::SecretsManager::Secret",
    "ssm": "AWS::SSM::Parameter",
    "events": "AWS::Events::EventBus",
    "sqs": "AWS::SQS::Queue",
    "sns": "AWS::SNS::Topic",
    "scheduler": "AWS::Scheduler::ScheduleGroup",  # its schedules: "<Group>/schedules"
    "s3": "AWS::S3::Bucket",
}
# Calls that hand a role to the service (which then needs iam:PassRole on that role): the
# role is the adapter's, found like its other resources (an AWS::IAM::Role in the settings).
PASSES_ROLE = frozenset({"scheduler:CreateSchedule"})
_SCHEDULES_IN_GROUP = re.compile(
    r"^arn:\$\{AWS::Partition\}:scheduler:\$\{AWS::Region\}:\$\{AWS::AccountId\}:"
    r"schedule/\$\{(\w+)\}/\*$"
)
# Operations IAM authorises as other actions: a TransactWriteItems by the actions of its items
# (the package's transactions put and update items), HeadObject as GetObject (AWS, "Actions
# defined by Amazon S3" / "DynamoDB API permissions reference").
AUTHORISED_AS = {
    "dynamodb:TransactWriteItems": ("dynamodb:PutItem", "dynamodb:UpdateItem"),
    "s3:HeadObject": ("s3:GetObject",),
}
# S3 actions on the objects of a bucket: their resource is "<Bucket>/*" (the bucket's objects).
S3_OBJECT_ACTIONS = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}

# Managed policies SAM attaches, and when a function needs them.
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
STREAM_READS = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
QUEUE_READS = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"

# What Lambda sends to an on-failure destination, by the destination's type.
DESTINATION_ACTIONS = {
    "SQS": "sqs:SendMessage",
    "SNS": "sns:Publish",
    "EventBridge": "events:PutEvents",
    "Lambda": "lambda:InvokeFunction",
}


# ---------------------------------------------------------------- the translated template
@cache
def translated_template() -> dict[str, Any]:
    """template.yaml translated by SAM (scripts/sam_translate.py, in the SAM CLI's venv)."""
    if not SAM_PYTHON.exists():
        raise AssertionError(f"{SAM_PYTHON} is missing: run `make install` (the SAM CLI venv)")
    out = ROOT / ".aws-sam" / "translated-policy-check.json"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(
        [str(SAM_PYTHON), "scripts/sam_translate.py", "template.yaml", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


# ---------------------------------------------------------------- botocore: operation → action
@cache
def _service_operations(service: str) -> dict[str, str]:
    """snake_case method name → IAM action of one boto3 client."""
    model = botocore.session.get_session().get_service_model(service)
    prefix = model.signing_name or model.endpoint_prefix
    return {xform_name(op): f"{prefix}:{op}" for op in model.operation_names}


def iam_action(service: str, method: str) -> str | None:
    return _service_operations(service).get(method)


def _waiter_operation(service: str, waiter: str) -> str | None:
    """The snake_case operation a waiter polls (`table_exists` → `describe_table`)."""
    session = botocore.session.get_session()
    try:
        model = session.get_waiter_model(service)
    except Exception:  # noqa: BLE001 - a service without waiters
        return None
    for name in model.waiter_names:
        if xform_name(name) == waiter:
            return xform_name(model.get_waiter(name).operation)
    return None


def all_actions(service_prefix: str) -> list[str]:
    """Every action of an IAM service prefix that has a boto3 client of the same name."""
    try:
        return sorted(_service_operations(service_prefix).values())
    except Exception:  # noqa: BLE001 - an unknown prefix has no expansion
        return []


# ---------------------------------------------------------------- the code: a symbol graph
@dataclass
class ClientCall:
    action: str
    index: str | None  # the index a Query/Scan names ("*" if not a literal), else None
    where: str  # module:line, for messages


@dataclass
class Construction:
    """`SomeAdapter(...)` or a library class: what it can call, what settings it is given."""

    target: str  # symbol key of the class (or library class name)
    settings_fields: set[str]
    env_variables: set[str]  # environment variables named in its arguments ("CM_SANDBOX_...")
    library_actions: tuple[str, ...]
    nested: list[Construction]  # those in its arguments
    where: str


@dataclass
class Symbol:
    key: str  # "module.name"
    calls: list[ClientCall] = field(default_factory=list)
    refs: set[str] = field(default_factory=set)  # other symbols it uses
    constructions: list[Construction] = field(default_factory=list)
    unknown_receivers: list[str] = field(default_factory=list)


def _module_name(path: Path, package: Path) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _annotation_service(node: ast.expr | None, client_types: dict[str, str]) -> str | None:
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(node, ast.Name):
        return client_types.get(node.id)
    if isinstance(node, ast.Attribute):
        dotted = ast.unparse(node)
        if dotted.startswith("mypy_boto3_"):
            return dotted.split(".", 1)[0].removeprefix("mypy_boto3_")
    if isinstance(node, ast.BinOp):  # X | None
        return _annotation_service(node.left, client_types) or _annotation_service(
            node.right, client_types
        )
    return None


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@cache
def _boto3_services() -> frozenset[str]:
    return frozenset(botocore.session.get_session().get_available_services())


def _boto3_client_service(node: ast.expr) -> str | None:
    """`boto3.client("events")` → "events"; also a session's `.client(...)`
    (`boto3.Session().client("sqs")`), `client(...)` imported from boto3 and
    `service_name="…"`: any `client` call naming a botocore service."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name != "client":
        return None
    argument = node.args[0] if node.args else None
    for keyword in node.keywords:
        if keyword.arg == "service_name":
            argument = keyword.value
    if (
        isinstance(argument, ast.Constant)
        and isinstance(argument.value, str)
        and argument.value in _boto3_services()
    ):
        return argument.value
    return None


class _Module:
    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self.tree = ast.parse(path.read_text())
        self.client_types: dict[str, str] = {}  # DynamoDBClient → dynamodb
        self.imports: dict[str, str] = {}  # local name → "module.name" or "module"
        self.constants: dict[str, str] = {}
        self.defs: dict[str, ast.FunctionDef | ast.ClassDef] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    local = alias.asname or alias.name
                    if node.module.startswith("mypy_boto3_"):
                        service = node.module.split(".", 1)[0].removeprefix("mypy_boto3_")
                        self.client_types[local] = service
                    self.imports[local] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = alias.name
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                self.defs[node.name] = node
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                self.constants[node.targets[0].id] = node.value.value

    def resolve(self, name: str) -> str | None:
        if name in self.defs:
            return f"{self.name}.{name}"
        return self.imports.get(name)


class CodeGraph:
    """Every top-level function and class of the package (and the apps), as symbols."""

    def __init__(
        self,
        settings_fields: set[str],
        package: Path = PACKAGE,
        extra_packages: tuple[Path, ...] = (SANDBOX_PACKAGE,),
    ) -> None:
        self.settings_fields = settings_fields
        self.modules: dict[str, _Module] = {}
        self.symbols: dict[str, Symbol] = {}
        self._services: frozenset[str] | None = None
        # every module is parsed before any is scanned: the services the packages use (the
        # safety net for receivers the scan cannot type) must be known for the first module
        for root in (package, *extra_packages):
            for path in sorted(root.rglob("*.py")):
                name = _module_name(path, root)
                self.modules[name] = _Module(path, name)
        for module in list(self.modules.values()):
            self._add(module)

    def add_app(self, path: Path, name: str) -> str:
        """Add a function's entry module; returns the symbol standing for the whole module."""
        module = _Module(path, name)
        self.modules[name] = module
        self._services = None
        return self._add(module)

    def _add(self, module: _Module) -> str:
        name = module.name
        for def_name, node in module.defs.items():
            self.symbols[f"{name}.{def_name}"] = self._scan(module, node, f"{name}.{def_name}")
        # module-level code (the apps build their adapters at import time)
        body = ast.Module(
            body=[n for n in module.tree.body if not isinstance(n, ast.FunctionDef | ast.ClassDef)],
            type_ignores=[],
        )
        whole = self._scan(module, body, f"{name}.<module>")
        whole.refs |= {f"{name}.{d}" for d in module.defs}
        self.symbols[f"{name}.<module>"] = whole
        return f"{name}.<module>"

    # -------------------------------------------------------------- one def
    def _scan(self, module: _Module, node: ast.AST, key: str) -> Symbol:
        symbol = Symbol(key)
        self_attrs = self._self_clients(module, node) if isinstance(node, ast.ClassDef) else {}
        functions = [n for n in ast.walk(node) if isinstance(n, ast.FunctionDef)]
        scopes: list[ast.AST] = functions or [node]
        if isinstance(node, ast.Module):
            scopes = [node]
        for scope in scopes:
            local = self._local_clients(module, scope)
            index = self._index_name(module, scope)
            for item in ast.walk(scope):
                if isinstance(item, ast.Call) and isinstance(item.func, ast.Attribute):
                    self._client_call(module, item, local, self_attrs, index, symbol)
                elif (
                    isinstance(item, ast.Call)
                    and isinstance(item.func, ast.Name)
                    and item.func.id == "getattr"
                    and len(item.args) >= 2
                ):
                    self._getattr_call(module, item, local, self_attrs, index, symbol)
        self._references(module, node, symbol)
        return symbol

    def _self_clients(self, module: _Module, node: ast.ClassDef) -> dict[str, str]:
        """`self.<attribute>` → service, for attributes that hold a boto3 client."""
        found: dict[str, str] = {}
        for item in ast.walk(node):
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                service = _annotation_service(item.annotation, module.client_types)
                if service:
                    found[item.target.id] = service
        for method in [n for n in node.body if isinstance(n, ast.FunctionDef)]:
            local = self._local_clients(module, method)
            for item in ast.walk(method):
                if not isinstance(item, ast.Assign | ast.AnnAssign) or item.value is None:
                    continue
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                service = self._expr_service(item.value, local)
                if isinstance(item, ast.AnnAssign):
                    service = service or _annotation_service(item.annotation, module.client_types)
                for target in targets:
                    if (
                        service
                        and isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                    ):
                        found[target.attr] = service
        return found

    def _local_clients(self, module: _Module, scope: ast.AST) -> dict[str, str]:
        local: dict[str, str] = {}
        if isinstance(scope, ast.FunctionDef):
            for arg in [*scope.args.posonlyargs, *scope.args.args, *scope.args.kwonlyargs]:
                service = _annotation_service(arg.annotation, module.client_types)
                if service:
                    local[arg.arg] = service
        for item in ast.walk(scope):
            if (
                isinstance(item, ast.Assign)
                and len(item.targets) == 1
                and isinstance(item.targets[0], ast.Name)
            ):
                service = self._expr_service(item.value, local)
                if service:
                    local[item.targets[0].id] = service
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                service = _annotation_service(item.annotation, module.client_types)
                if service:
                    local[item.target.id] = service
        return local

    def _expr_service(self, node: ast.expr, local: dict[str, str]) -> str | None:
        if isinstance(node, ast.Name):
            return local.get(node.id)
        return _boto3_client_service(node)

    def _index_name(self, module: _Module, scope: ast.AST) -> str | None:
        for item in ast.walk(scope):
            value: ast.expr | None = None
            if isinstance(item, ast.Dict):
                for k, v in zip(item.keys, item.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == "IndexName":
                        value = v
            elif isinstance(item, ast.keyword) and item.arg == "IndexName":
                value = item.value
            if value is not None:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    return value.value
                if isinstance(value, ast.Name):
                    return self._constant(module, value.id) or "*"
                return "*"
        return None

    def _constant(self, module: _Module, name: str) -> str | None:
        if name in module.constants:
            return module.constants[name]
        target = module.imports.get(name)
        if target:
            mod, _, const = target.rpartition(".")
            if mod in self.modules:
                return self.modules[mod].constants.get(const)
        return None

    def _client_call(
        self,
        module: _Module,
        call: ast.Call,
        local: dict[str, str],
        self_attrs: dict[str, str],
        index: str | None,
        symbol: Symbol,
    ) -> None:
        assert isinstance(call.func, ast.Attribute)
        method = call.func.attr
        receiver = call.func.value
        service = self._receiver_service(receiver, local, self_attrs)
        where = f"{_shown(module.path)}:{call.lineno}"
        if service is None:
            # a known operation of a service the package uses, on a receiver of unknown type
            for known in self._services_used():
                if iam_action(known, method) and method not in _NOT_OPERATIONS:
                    symbol.unknown_receivers.append(f"{ast.unparse(call.func)} ({where})")
                    break
            return
        if method in {"get_paginator", "get_waiter"}:
            self._helper_call(module, call, service, method, index, symbol)
            return
        action = iam_action(service, method)
        if action is None:
            if method not in _CLIENT_HELPERS:
                symbol.unknown_receivers.append(f"{ast.unparse(call.func)} ({where})")
            return
        is_read = action.split(":", 1)[1] in {"Query", "Scan"}
        for authorised in AUTHORISED_AS.get(action, (action,)):
            symbol.calls.append(ClientCall(authorised, index if is_read else None, where))

    def _receiver_service(
        self, receiver: ast.expr, local: dict[str, str], self_attrs: dict[str, str]
    ) -> str | None:
        if isinstance(receiver, ast.Name):
            return local.get(receiver.id)
        if (
            isinstance(receiver, ast.Attribute)
            and isinstance(receiver.value, ast.Name)
            and receiver.value.id == "self"
        ):
            return self_attrs.get(receiver.attr)
        return _boto3_client_service(receiver)

    def _helper_call(
        self,
        module: _Module,
        call: ast.Call,
        service: str,
        method: str,
        index: str | None,
        symbol: Symbol,
    ) -> None:
        """`client.get_paginator("query")` calls Query; `client.get_waiter("table_exists")`
        calls the operation its waiter polls (DescribeTable)."""
        where = f"{_shown(module.path)}:{call.lineno}"
        name = call.args[0] if call.args else None
        operation: str | None = None
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            if method == "get_paginator":
                operation = name.value
            else:
                operation = _waiter_operation(service, name.value)
        action = iam_action(service, operation) if operation else None
        if action is None:
            symbol.unknown_receivers.append(f"{ast.unparse(call)} ({where})")
            return
        is_read = action.split(":", 1)[1] in {"Query", "Scan"}
        symbol.calls.append(ClientCall(action, index if is_read else None, where))

    def _getattr_call(
        self,
        module: _Module,
        call: ast.Call,
        local: dict[str, str],
        self_attrs: dict[str, str],
        index: str | None,
        symbol: Symbol,
    ) -> None:
        """`getattr(client, "delete_item")` is the call it names; a name the scan cannot read
        is reported."""
        service = self._receiver_service(call.args[0], local, self_attrs)
        if service is None:
            return
        where = f"{_shown(module.path)}:{call.lineno}"
        name = call.args[1]
        action = (
            iam_action(service, name.value)
            if isinstance(name, ast.Constant) and isinstance(name.value, str)
            else None
        )
        if action is None:
            symbol.unknown_receivers.append(f"{ast.unparse(call)} ({where})")
            return
        is_read = action.split(":", 1)[1] in {"Query", "Scan"}
        symbol.calls.append(ClientCall(action, index if is_read else None, where))

    def _services_used(self) -> frozenset[str]:
        if self._services is None:
            services: set[str] = set()
            for module in self.modules.values():
                services |= set(module.client_types.values())
                for node in ast.walk(module.tree):
                    if isinstance(node, ast.Call) and (found := _boto3_client_service(node)):
                        services.add(found)
            self._services = frozenset(services)
        return self._services

    # -------------------------------------------------------------- references
    def _references(self, module: _Module, node: ast.AST, symbol: Symbol) -> None:
        # names bound by imports inside function bodies (the composition root imports lazily)
        for item in ast.walk(node):
            if isinstance(item, ast.ImportFrom) and item.module:
                for alias in item.names:
                    module.imports.setdefault(
                        alias.asname or alias.name, f"{item.module}.{alias.name}"
                    )
        for item in ast.walk(node):
            if isinstance(item, ast.Name):
                target = module.resolve(item.id)
                if target:
                    symbol.refs.add(target)
            elif isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name):
                base = module.imports.get(item.value.id)
                if base:
                    symbol.refs.add(f"{base}.{item.attr}")
        nested: set[int] = set()
        for item in ast.walk(node):
            if isinstance(item, ast.Call) and id(item) not in nested:
                construction = self._construction(module, item, set(), nested)
                if construction:
                    symbol.constructions.append(construction)

    def canonical(self, key: str) -> str:
        """Follow re-exports: `pkg.adapters.X` imported into `pkg.adapters` from a submodule."""
        for _ in range(10):
            mod, _, name = key.rpartition(".")
            module = self.modules.get(mod)
            if module is None or name in module.defs or name not in module.imports:
                return key
            key = module.imports[name]
        return key

    def _constructed(self, module: _Module, call: ast.Call) -> str | None:
        name = call.func.id if isinstance(call.func, ast.Name) else None
        if name is None:
            return None
        if name in LIBRARY_CALLS:
            return name
        target = module.resolve(name)
        if target and self._is_class(self.canonical(target)):
            return self.canonical(target)
        return None

    def _construction(
        self, module: _Module, call: ast.Call, inherited: set[str], nested: set[int]
    ) -> Construction | None:
        """A construction and, as separate ones, those in its arguments: each gets the settings
        passed to it directly plus those of the constructions around it (a provider inside
        `ManagedSecrets(SecretsProvider(...), product_token_secret=s.…)`)."""
        target = self._constructed(module, call)
        if target is None:
            return None
        inner_calls: list[ast.Call] = []
        own: set[str] = set()
        variables: set[str] = set()
        todo: list[ast.AST] = [*call.args, *(k.value for k in call.keywords)]
        while todo:
            item = todo.pop()
            if isinstance(item, ast.Call) and self._constructed(module, item):
                inner_calls.append(item)
                continue
            if isinstance(item, ast.Attribute) and item.attr in self.settings_fields:
                own.add(item.attr)
            if isinstance(item, ast.Constant) and _is_variable_name(item.value):
                variables.add(item.value)
            todo.extend(ast.iter_child_nodes(item))
        fields = own | inherited
        inner = []
        for inner_call in inner_calls:
            nested.add(id(inner_call))
            built = self._construction(module, inner_call, fields, nested)
            if built:
                inner.append(built)
        return Construction(
            target=target,
            settings_fields=fields,
            env_variables=variables,
            library_actions=LIBRARY_CALLS.get(target, ()),
            nested=inner,
            where=f"{_shown(module.path)}:{call.lineno}",
        )

    def _is_class(self, key: str) -> bool:
        mod, _, name = key.rpartition(".")
        module = self.modules.get(mod)
        return bool(module and isinstance(module.defs.get(name), ast.ClassDef))

    # -------------------------------------------------------------- walking
    def reachable(self, start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            key = todo.pop()
            key = self.canonical(key)
            if key in seen or key not in self.symbols:
                continue
            seen.add(key)
            todo.extend(self.symbols[key].refs)
        return seen

    def calls_of(self, key: str) -> list[ClientCall]:
        """Client calls the symbol can make, itself or through what it references."""
        return [c for k in sorted(self.reachable(key)) for c in self.symbols[k].calls]


def _is_variable_name(value: object) -> bool:
    """An environment variable's name as code writes it: `CM_SANDBOX_TABLE_NAME`."""
    return (
        isinstance(value, str)
        and "_" in value
        and value.isupper()
        and value.replace("_", "").isalnum()
    )


# Client methods that are not API operations (no permission needed).
_CLIENT_HELPERS = {"get_paginator", "get_waiter", "can_paginate", "close", "generate_presigned_url"}
# Method names that are operations of some service but are everyday Python on other objects.
_NOT_OPERATIONS = {"get", "update", "list", "close"}


# ---------------------------------------------------------------- settings.py: field → env var
@cache
def settings_environment() -> dict[str, str]:
    """Settings field → the environment variable it is read from (settings.py)."""
    tree = ast.parse((PACKAGE / "settings.py").read_text())
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg is None:
                    continue
                names = [
                    n.value
                    for n in ast.walk(keyword.value)
                    if isinstance(n, ast.Constant)
                    and isinstance(n.value, str)
                    and n.value.isupper()
                    and n.value.replace("_", "").isalnum()
                ]
                if names:
                    found.setdefault(keyword.arg, names[0])
    return found


# ---------------------------------------------------------------- expectations and grants
@dataclass(frozen=True)
class Need:
    action: str
    resource: str | None  # logical id (+ "/index/<name>"), None = could not tell
    why: str


@dataclass(frozen=True)
class Grant:
    action: str  # may hold wildcards
    resource: str  # normalised: logical id, "X/index/name", "*", or the raw value
    policy: str


def _resources(template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = template["Resources"]
    return resources


def _logical_id(value: Any, template: dict[str, Any]) -> str | None:
    """The resource an environment value or policy resource names (None: a plain value)."""
    resources = _resources(template)
    if isinstance(value, dict):
        if "Ref" in value and value["Ref"] in resources:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for logical_id, resource in resources.items():
                if resource["Type"] == "AWS::SSM::Parameter":
                    name = resource["Properties"].get("Name")
                    name = name.get("Fn::Sub") if isinstance(name, dict) else name
                    if isinstance(name, str) and (
                        text == name or text.endswith(f":parameter{name}")
                    ):
                        return logical_id
    return None


def normalise_resource(value: Any, template: dict[str, Any]) -> str:
    """A policy resource as "Logical", "Logical/index/name", "*" or its JSON (unrecognised)."""
    if value == "*":
        return "*"
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        group = _SCHEDULES_IN_GROUP.match(text)
        if group and group.group(1) in _resources(template):
            return f"{group.group(1)}/schedules"  # the schedules of a schedule group
        if text.startswith("${") and ".Arn}" in text:
            logical, _, rest = text[2:].partition(".Arn}")
            return f"{logical}{rest}"
    if isinstance(value, dict) and "Ref" in value:
        resource = _resources(template).get(value["Ref"])
        # !Ref is an ARN only for a secret (and ministack gives its name: use GetAtt .Id)
        if resource is None or resource["Type"] != "AWS::SecretsManager::Secret":
            return json.dumps(value)
    logical = _logical_id(value, template)
    return logical if logical else json.dumps(value, sort_keys=True)


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in _resources(template).items() if v["Type"] == "AWS::Lambda::Function"}


def role_of(function: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    role = function["Properties"]["Role"]
    logical = role["Fn::GetAtt"][0]
    resource: dict[str, Any] = _resources(template)[logical]
    return resource


_ATTACHABLE_POLICIES = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(function_id: str, template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(policy name, statement) of every policy on the function's role: its inline policies
    and the template's policy resources attached to it (`Roles: [!Ref Role]`, `RoleName`)."""
    function = functions(template)[function_id]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = _resources(template)[role_id]
    documents = [
        (str(policy["PolicyName"]), policy["PolicyDocument"])
        for policy in role["Properties"].get("Policies", [])
    ]
    for logical_id, resource in _resources(template).items():
        if resource["Type"] not in _ATTACHABLE_POLICIES:
            continue
        props = resource.get("Properties", {})
        targets = [*_as_list(props.get("Roles", [])), props.get("RoleName")]
        if {"Ref": role_id} in targets:
            documents.append((logical_id, props["PolicyDocument"]))
    for name, document in documents:
        for statement in _as_list(document["Statement"]):
            yield name, statement


# The stack's own KMS key (KmsKeyArn), used by the services that hold data encrypted with it
# on the function's behalf (DynamoDB, Secrets Manager, SQS, S3 for the campaign bucket:
# `kms:ViaService`), never directly.
KEY_USE_ACTIONS = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
KEY_USE_SERVICES = ("dynamodb.", "secretsmanager.", "sqs.", "s3.")


def _key_use_through_services(statement: dict[str, Any]) -> bool:
    via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
    return via is not None and all(
        str(v.get("Fn::Sub", v) if isinstance(v, dict) else v).startswith(KEY_USE_SERVICES)
        for v in _as_list(via)
    )


def grants(function_id: str, template: dict[str, Any]) -> list[Grant]:
    """Allow statements as action x resource (the stack key's use through services apart)."""
    found: list[Grant] = []
    for policy, statement in statements(function_id, template):
        if statement.get("Effect") != "Allow" or _key_use_through_services(statement):
            continue
        for action in _as_list(statement.get("Action", [])):
            for resource in _as_list(statement.get("Resource", [])):
                if _local_only(resource):
                    continue
                found.append(Grant(action, normalise_resource(resource, template), policy))
    return found


def _local_only(resource: Any) -> bool:
    """A resource granted on the local emulator only (`!If [IsLocal, X, !Ref AWS::NoValue]`,
    an emulator's difference the README lists): no grant in AWS."""
    if not isinstance(resource, dict) or set(resource) != {"Fn::If"}:
        return False
    condition, _, otherwise = resource["Fn::If"]
    return bool(condition == "IsLocal" and otherwise == {"Ref": "AWS::NoValue"})


def statement_problems(function_id: str, template: dict[str, Any], needs: list[Need]) -> list[str]:
    """Statements `grants` cannot read as action x resource: an Allow with NotAction or
    NotResource (it grants nearly everything), and a Deny of a call the function makes."""
    problems: list[str] = []
    for policy, statement in statements(function_id, template):
        effect = statement.get("Effect")
        if effect == "Allow" and ({"NotAction", "NotResource"} & statement.keys()):
            problems.append(
                f"{function_id}: its role allows by exclusion (NotAction/NotResource, policy "
                f"{policy}): grant the actions and resources it calls instead"
            )
        if _key_use_through_services(statement) and not (
            set(_as_list(statement.get("Action", []))) <= KEY_USE_ACTIONS
            and statement.get("Resource") == {"Ref": "KmsKeyArn"}
        ):
            problems.append(
                f"{function_id}: its role's key use through services (policy {policy}) grants "
                f"more than {sorted(KEY_USE_ACTIONS)} on KmsKeyArn"
            )
        if effect != "Deny":
            continue
        for need in needs:
            denied_resources = [
                normalise_resource(r, template) for r in _as_list(statement.get("Resource", []))
            ]
            if any(
                fnmatch.fnmatchcase(need.action, a) for a in _as_list(statement.get("Action", []))
            ) and any(
                r == "*" or (need.resource and _resource_matches(r, need.resource))
                for r in denied_resources
            ):
                problems.append(
                    f"{function_id}: its role denies {need.action} on {need.resource} "
                    f"(policy {policy}), which the function calls ({need.why})"
                )
    return problems


def managed_policies(function_id: str, template: dict[str, Any]) -> list[str]:
    role = role_of(functions(template)[function_id], template)
    return [str(arn) for arn in role["Properties"].get("ManagedPolicyArns", [])]


def code_dir(sam_function: dict[str, Any]) -> Path:
    return ROOT / str(sam_function["Properties"]["CodeUri"]).rstrip("/")


def entry_module(sam_function: dict[str, Any]) -> tuple[Path, str]:
    """(file, module name) of the module the function's `Handler` names under its `CodeUri`:
    `app.handler` in functions/place_call/ is functions/place_call/app.py, named
    `functions.place_call.app`; `cm_sandbox.app.handler` in local/ is local/cm_sandbox/app.py,
    named `cm_sandbox.app` (as the scanned package knows it)."""
    directory = code_dir(sam_function)
    dotted = str(sam_function["Properties"]["Handler"]).rpartition(".")[0]
    path = directory.joinpath(*dotted.split(".")).with_suffix(".py")
    if "." not in dotted:
        return path, f"functions.{directory.name}.{dotted}"
    return path, dotted


def platform_calls(sam_function: dict[str, Any], template: dict[str, Any]) -> list[Need]:
    """What Lambda does with the function's role, from the SAM function's configuration."""
    needs: list[Need] = []
    props = sam_function["Properties"]
    destinations = [("EventInvokeConfig", props.get("EventInvokeConfig", {}))]
    destinations += [
        (f"event {name}", event.get("Properties", {}))
        for name, event in props.get("Events", {}).items()
    ]
    for origin, config in destinations:
        for outcome in ("OnFailure", "OnSuccess"):
            destination = config.get("DestinationConfig", {}).get(outcome)
            if destination and destination.get("Type") in DESTINATION_ACTIONS:
                needs.append(
                    Need(
                        DESTINATION_ACTIONS[destination["Type"]],
                        _logical_id(destination["Destination"], template),
                        f"Lambda sends {outcome} records of {origin} there",
                    )
                )
    dead_letters = props.get("DeadLetterQueue") or {}
    if dead_letters.get("Type") in DESTINATION_ACTIONS:
        needs.append(
            Need(
                DESTINATION_ACTIONS[dead_letters["Type"]],
                _logical_id(dead_letters.get("TargetArn"), template),
                "Lambda sends asynchronous events that failed every retry there",
            )
        )
    return needs


def allowed_managed_policies(sam_function: dict[str, Any]) -> set[str]:
    allowed = {BASIC_EXECUTION, XRAY}  # logs (always), tracing (EnableTracing)
    events = sam_function["Properties"].get("Events", {}).values()
    if any(e["Type"] == "DynamoDB" for e in events):
        allowed.add(STREAM_READS)  # the event source mapping reads the stream as the role
    if any(e["Type"] == "SQS" for e in events):
        allowed.add(QUEUE_READS)  # ... and receives and deletes the queue's messages
    return allowed


def _resource_of(action: str, service: str, logical: str, index: str | None) -> str:
    """The resource a call acts on: a table's index, a schedule group's schedules, a bucket's
    objects, or the resource itself."""
    if service == "scheduler":
        return f"{logical}/schedules"
    if action in S3_OBJECT_ACTIONS:
        return f"{logical}/*"
    return f"{logical}/index/{index}" if index else logical


def needs_of(
    graph: CodeGraph, app_symbol: str, environment: dict[str, Any], template: dict[str, Any]
) -> tuple[list[Need], list[str]]:
    """(what the function's code can call on which resource, problems found on the way)."""
    problems: list[str] = []
    needs: list[Need] = []
    reachable = graph.reachable(app_symbol)
    env_of_field = settings_environment()
    attributed: set[str] = set()  # symbols whose calls a construction accounted for
    for key in sorted(reachable):
        symbol = graph.symbols[key]
        problems += [f"cannot tell which AWS client {u} uses" for u in symbol.unknown_receivers]
        for construction in _flatten(symbol.constructions):
            resources_by_type: dict[str, list[str]] = {}
            variables = [env_of_field.get(f) for f in sorted(construction.settings_fields)]
            variables += sorted(construction.env_variables)
            for variable in variables:
                logical = _logical_id(environment.get(variable or ""), template)
                if logical:
                    kind = _resources(template)[logical]["Type"]
                    resources_by_type.setdefault(kind, []).append(logical)
            actions, own_symbols = _construction_actions(graph, construction)
            attributed |= own_symbols
            for action, index, where in actions:
                service = action.split(":", 1)[0]
                kind = RESOURCE_TYPES.get(service, "")
                found = resources_by_type.get(kind, [])
                why = f"{where}, built at {construction.where}"
                if not found:
                    needs.append(Need(action, None, why))
                for logical in found:
                    resource = _resource_of(action, service, logical, index)
                    needs.append(Need(action, resource, why))
                if action in PASSES_ROLE:
                    for role in resources_by_type.get("AWS::IAM::Role", []):
                        needs.append(Need("iam:PassRole", role, f"{why}: the service's role"))
    for key in sorted(reachable - attributed):
        for call in graph.symbols[key].calls:
            needs.append(Need(call.action, None, f"{call.where}, not built by an adapter"))
    return needs, problems


def _construction_actions(
    graph: CodeGraph, construction: Construction
) -> tuple[list[tuple[str, str | None, str]], set[str]]:
    """((action, index, where) a construction's object can call, the symbols that call it).

    The adapters passed in answer for their own calls (on the resources they are built with):
    `Sandbox(SandboxState(...), DeliveryQueue(...))` calls nothing through them itself."""
    target = construction.target
    actions = [(a, None, f"{target} (library)") for a in LIBRARY_CALLS.get(target, ())]
    if target not in graph.symbols:
        return actions, set()
    passed_in: set[str] = set()
    for inner in construction.nested:
        if inner.target in graph.symbols:
            passed_in |= graph.reachable(inner.target)
    own_symbols = graph.reachable(target) - passed_in
    actions += [
        (c.action, c.index, c.where)
        for key in sorted(own_symbols)
        for c in graph.symbols[key].calls
    ]
    return actions, own_symbols


def _flatten(constructions: list[Construction]) -> Iterator[Construction]:
    for construction in constructions:
        yield construction
        yield from _flatten(construction.nested)


def _resource_matches(granted: str, needed: str) -> bool:
    return granted == needed or (
        granted != "*" and fnmatch.fnmatchcase(needed, granted.replace("${", "$["))
    )


def check_function(
    function_id: str, graph: CodeGraph, template: dict[str, Any], sam: dict[str, Any]
) -> list[str]:
    """Every mismatch between the function's calls and its role, one sentence each."""
    function = functions(template)[function_id]
    sam_function = sam["Resources"][function_id]
    app_symbol = graph.add_app(*entry_module(sam_function))
    environment = function["Properties"].get("Environment", {}).get("Variables", {})
    needs, problems = needs_of(graph, app_symbol, environment, template)
    needs += platform_calls(sam_function, template)
    granted = grants(function_id, template)
    mismatches = [f"{function_id}: {p}" for p in problems]
    for need in _unique(needs):
        if need.resource is None:
            mismatches.append(
                f"{function_id}: calls {need.action} on a resource the check cannot tell "
                f"({need.why}): pass its name from Settings where the adapter is built"
            )
            continue
        matching = [
            g
            for g in granted
            if fnmatch.fnmatchcase(need.action, g.action)
            and _resource_matches(g.resource, need.resource)
        ]
        if not matching:
            on_star = [
                g
                for g in granted
                if fnmatch.fnmatchcase(need.action, g.action) and g.resource == "*"
            ]
            detail = " (granted only on *)" if on_star else ""
            mismatches.append(
                f"{function_id}: calls {need.action} on {need.resource} but its role does not "
                f"grant it{detail} ({need.why})"
            )
    mismatches += statement_problems(function_id, template, needs)
    for grant in granted:
        objects_of_bucket = (
            grant.resource.endswith("/*")
            and _resources(template).get(grant.resource.removesuffix("/*"), {}).get("Type")
            == "AWS::S3::Bucket"
        )
        if (
            grant.resource != "*"
            and any(c in grant.resource for c in "*?")
            and not (objects_of_bucket)
        ):
            mismatches.append(
                f"{function_id}: its role grants {grant.action} on the wildcard resource "
                f"{grant.resource} (policy {grant.policy}): name the exact resource"
            )
        service = grant.action.split(":", 1)[0]
        expanded = [a for a in all_actions(service) if fnmatch.fnmatchcase(a, grant.action)] or [
            grant.action
        ]
        for action in expanded:
            if not any(
                n.action == action
                and n.resource is not None
                and _resource_matches(grant.resource, n.resource)
                for n in needs
            ):
                mismatches.append(
                    f"{function_id}: its role grants {action} on {grant.resource} "
                    f"(policy {grant.policy}) but the function never calls it there"
                )
    for arn in managed_policies(function_id, template):
        if arn not in allowed_managed_policies(sam_function):
            mismatches.append(f"{function_id}: its role has managed policy {arn} it does not need")
    return mismatches


def _unique(needs: list[Need]) -> Iterator[Need]:
    seen: set[tuple[str, str | None]] = set()
    for need in needs:
        if (need.action, need.resource) not in seen:
            seen.add((need.action, need.resource))
            yield need


def settings_fields() -> set[str]:
    return set(settings_environment())
