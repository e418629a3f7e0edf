"""The local stack: ministack (AWS emulator) + the CM simulator + the real template deployed.

    python scripts/local_stack.py up      start what is not running, build, deploy, wait, write
                                          .local/stack.json (running it again redeploys changes)
    python scripts/local_stack.py up --sandbox
                                          the same with CmSandbox=true Environment=dev: CM is the
                                          stack's own sandbox Lambda, no simulator process
    python scripts/local_stack.py down    stop everything it started (by PID), remove temp files
    python scripts/local_stack.py logs    follow the function and simulator logs until Ctrl-C
    python scripts/local_stack.py status  what is running

No Docker, no AWS account: `sam build` + `sam deploy` against ministack on 127.0.0.1, whose
Lambda workers are local processes; CM is the simulator in local/cm_simulator.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get("DTMF_LOCAL_DIR", ROOT / ".local"))
LOGS = STATE_DIR / "logs"
TMP = STATE_DIR / "tmp"  # ministack unpacks function code and layers here
STACK_FILE = STATE_DIR / "stack.json"
STATE_FILE = STATE_DIR / "state.json"
BUILD_DIR = ROOT / ".aws-sam" / "local-build"
REGION = "eu-west-1"
STACK_NAME = "dtmf-gateway-local"
ARTIFACT_BUCKET = "dtmf-gateway-local-artifacts"
MINISTACK = ROOT / ".tools" / "ministack" / "bin" / "ministack"
SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
PYTHON = ROOT / ".venv" / "bin" / "python"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def say(message: str) -> None:
    print(f"[local] {message}", flush=True)


def free_port(preferred: int) -> int:
    """The preferred port when it is free (events/env.json assumes the defaults), else any."""
    for candidate in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise SystemExit("[local] no free port on 127.0.0.1")


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def load_state() -> dict[str, Any]:
    return json.loads(STATE_FILE.read_text()) if STATE_FILE.exists() else {}


def save_state(state: dict[str, Any]) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")


def http_ok(url: str, timeout: float = 1.0) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


def wait_for(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"[local] {what} did not come up within {timeout:.0f}s (see {LOGS})")


def aws_env(state: dict[str, Any]) -> dict[str, str]:
    return {
        **os.environ,
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": state["aws-endpoint-url"],
        "SAM_CLI_TELEMETRY": "0",
    }


def minimal_env(**extra: str) -> dict[str, str]:
    """ministack hands its whole environment to the Lambda workers: keep it small and clean."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(STATE_DIR),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra)
    return env


def spawn(argv: list[str], log: Path, env: dict[str, str]) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(  # own session: `down` can stop it and its workers at once
            argv,
            cwd=STATE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return process.pid


def iam_enforced(endpoint: str) -> bool | None:
    """Whether the emulator at `endpoint` evaluates IAM (None: it does not answer)."""
    import httpx

    try:
        health = httpx.get(f"{endpoint}/_ministack/health", timeout=1.0).json()
    except (httpx.HTTPError, ValueError):
        return None
    return bool(health.get("auth") == "enabled")


def start_ministack(state: dict[str, Any]) -> None:
    if alive(state.get("ministack-pid")):
        enforced = iam_enforced(state["aws-endpoint-url"])
        if enforced:
            say(f"ministack already running on {state['aws-endpoint-url']}")
            return
        if enforced is False:  # started by an older local-up: IAM must be enforced
            say("ministack runs without IAM enforcement: restarting it")
            stop(state.get("ministack-pid"), "ministack")
    port = free_port(4566)
    TMP.mkdir(parents=True, exist_ok=True)
    state["ministack-pid"] = spawn(
        [str(MINISTACK)],
        LOGS / "ministack.log",
        # AUTH=true: signatures of IAM users and sessions are verified, every API Gateway call
        # and every AWS call a function makes (as a session of its execution role) is
        # evaluated against IAM policies — the template's least privilege is exercised.
        minimal_env(GATEWAY_PORT=str(port), BIND_HOST="127.0.0.1", TMPDIR=str(TMP), AUTH="true"),
    )
    state["aws-endpoint-url"] = f"http://127.0.0.1:{port}"
    state.pop("deployed", None)
    save_state(state)
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/_ministack/health"), "ministack", 30)
    say(f"ministack up on {state['aws-endpoint-url']} (pid {state['ministack-pid']})")


def start_simulator(state: dict[str, Any]) -> None:
    if alive(state.get("simulator-pid")) and http_ok(f"{state['cm-simulator-url']}/_simulator"):
        say(f"CM simulator already running on {state['cm-simulator-url']}")
        return
    port = free_port(8790)
    state.setdefault("cm-product-token", str(uuid.uuid4()))
    state["simulator-pid"] = spawn(
        [
            str(PYTHON),
            "-m",
            "cm_simulator",
            "--port",
            str(port),
            "--product-token",
            state["cm-product-token"],
        ],
        LOGS / "cm-simulator.log",
        minimal_env(PYTHONPATH=str(ROOT / "local"), PYTHONUNBUFFERED="1"),
    )
    state["cm-simulator-url"] = f"http://127.0.0.1:{port}"
    save_state(state)
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/_simulator"), "CM simulator", 15)
    say(f"CM simulator up on {state['cm-simulator-url']} (pid {state['simulator-pid']})")


def host_architecture() -> str:
    return "arm64" if platform.machine().lower() in {"aarch64", "arm64"} else "x86_64"


def python313_dir() -> str:
    found = subprocess.run(
        [str(ROOT / "scripts" / "find-python313")], check=True, capture_output=True, text=True
    )
    return str(Path(found.stdout.strip()).parent)


def run(argv: list[str], env: dict[str, str], what: str) -> None:
    started = time.monotonic()
    log = LOGS / f"{what}.log"
    with log.open("w") as out:
        result = subprocess.run(
            argv, check=False, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"[local] {what} failed (full output in {log})")
    say(f"{what} done in {time.monotonic() - started:.1f}s")


def build_and_deploy(state: dict[str, Any], *, sandbox: bool) -> None:
    import boto3

    env = aws_env(state)
    env["PATH"] = f"{python313_dir()}:{env['PATH']}"
    architecture = host_architecture()
    # the build recipes (scripts/lambda-build/Makefile) fetch the layer's wheels for this
    # architecture and compile the bytecode; SAM does not pass the parameter on to them
    env["DTMF_GATEWAY_ARCHITECTURE"] = architecture
    run(
        [
            str(SAM),
            "build",
            "--cached",
            "--parallel",
            "--build-dir",
            str(BUILD_DIR),
            "--parameter-overrides",
            f"Architecture={architecture}",
        ],
        env,
        "sam-build",
    )
    s3 = boto3.client("s3", endpoint_url=state["aws-endpoint-url"], region_name=REGION, **_keys())
    with contextlib.suppress(
        s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists
    ):
        s3.create_bucket(
            Bucket=ARTIFACT_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
    overrides = {
        "LocalEmulator": "true",
        "LocalEmulatorEndpoint": state["aws-endpoint-url"],
        # with the sandbox the stack's CM is its own CmSandboxFunction (CmBaseUrl unused)
        **({} if sandbox else {"CmBaseUrl": state["cm-simulator-url"]}),
        "CmSandbox": "true" if sandbox else "false",
        "Environment": "dev",
        "Architecture": architecture,
        "ExpiryScheduleMinutes": "1",
        "LogLevel": "INFO",
        # webhooks to the tests' own receivers on loopback (http), retried quickly: attempts
        # 1 s, 2 s, 4 s apart, then the DLQ (the contract's "Webhooks locally")
        "AllowedWebhookHosts": "127.0.0.1",
        "WebhookAllowLoopback": "true",
        "WebhookRetryBaseSeconds": "1",
        "WebhookMaxAttempts": "4",
        # works at any hour; quiet hours are tested with an explicit `quiet-hours` (#16)
        "QuietHours": '""',  # empty (SAM's override syntax for an empty value)
        # campaigns: room for `make campaign-load` on a laptop (README, Campaigns), and 30
        # calls/s beside it for direct POSTs (`make load` asks 20/s)
        "CmMaxCallsPerSecond": "50",
        "CampaignCallsPerSecond": "20",
    }
    run(
        [
            str(SAM),
            "deploy",
            "--config-file",
            str(ROOT / "samconfig.toml"),
            "--config-env",
            "local",
            "--template-file",
            str(BUILD_DIR / "template.yaml"),
            "--parameter-overrides",
            *(f"{k}={v}" for k, v in overrides.items()),
        ],
        env,
        "sam-deploy",
    )


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def outputs(state: dict[str, Any]) -> dict[str, str]:
    import boto3

    cf = boto3.client(
        "cloudformation", endpoint_url=state["aws-endpoint-url"], region_name=REGION, **_keys()
    )
    stack = cf.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def configure(state: dict[str, Any], out: dict[str, str]) -> None:
    """Give the deployed stack the simulator's product token (as an operator would CM's)."""
    import boto3

    secrets = boto3.client(
        "secretsmanager", endpoint_url=state["aws-endpoint-url"], region_name=REGION, **_keys()
    )
    secrets.put_secret_value(
        SecretId=out["CmProductTokenSecretArn"], SecretString=state["cm-product-token"]
    )
    # the Standard Webhooks form of a signing secret, whsec_ + base64 (as an operator sets it)
    state.setdefault("webhook-secret", "whsec_" + base64.b64encode(os.urandom(32)).decode())
    secrets.put_secret_value(
        SecretId=out["WebhookSigningSecretArn"],
        SecretString=json.dumps({"current": state["webhook-secret"], "previous": ""}),
    )


def api_answers(api_url: str) -> bool:
    """A signed GET of an unknown instruction: 404 means the API and its function are up."""
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{api_url}/v1/dtmf-calls/local-stack-probe"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("test", "test"), "execute-api", REGION).add_auth(request)
    try:
        return httpx.get(url, headers=dict(request.headers), timeout=15).status_code == 404
    except httpx.HTTPError:
        return False


def up(*, sandbox: bool = False) -> None:
    started = time.monotonic()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state = load_state()
    start_ministack(state)
    if sandbox:
        # CM is the stack's own sandbox Lambda: no simulator process (one left by an earlier
        # `up` without --sandbox is stopped; it was started by us)
        stop(state.pop("simulator-pid", None), "CM simulator")
        state.setdefault("cm-product-token", str(uuid.uuid4()))
    else:
        start_simulator(state)
    state["sandbox"] = sandbox
    save_state(state)
    build_and_deploy(state, sandbox=sandbox)
    out = outputs(state)
    configure(state, out)
    if sandbox:
        # the sandbox's API, as the CM simulator's URL (its /_simulator routes are SigV4-signed)
        state["cm-simulator-url"] = out["CmSandboxUrl"].replace("//localhost:", "//127.0.0.1:")
    stack = {
        "api-url": out["ApiUrl"],
        "cm-simulator-url": state["cm-simulator-url"],
        "sandbox": sandbox,
        "aws-endpoint-url": state["aws-endpoint-url"],
        "region": REGION,
        "stack-name": STACK_NAME,
        "event-bus-name": out["EventBusName"],
        "table-name": out["TableName"],
        "webhook-secret-arn": out["WebhookSigningSecretArn"],
        "webhook-dlq-url": out["WebhookDLQUrl"].replace("//localhost:", "//127.0.0.1:"),
        "campaign-bucket": out["CampaignBucketName"],
    }
    wait_for(lambda: api_answers(stack["api-url"]), "the API", 60)
    state["deployed"] = True
    state["event-capture-queue-url"] = out["LocalEventCaptureQueueUrl"].replace(
        "//localhost:", "//127.0.0.1:"
    )
    save_state(state)
    STACK_FILE.write_text(json.dumps(stack, indent=2) + "\n")
    say(f"stack up in {time.monotonic() - started:.1f}s: {STACK_FILE.relative_to(ROOT)}")
    cm = "CM sandbox (Lambda)" if sandbox else "CM simulator"
    say(f"API: {stack['api-url']}/v1/dtmf-calls   {cm}: {stack['cm-simulator-url']}")


def stop(pid: int | None, name: str) -> None:
    if pid is None or not alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    say(f"stopped {name} (pid {pid})")


def down() -> None:
    state = load_state()
    stop(state.get("simulator-pid"), "CM simulator")
    stop(state.get("ministack-pid"), "ministack")
    shutil.rmtree(TMP, ignore_errors=True)
    for path in (STACK_FILE, STATE_FILE):
        path.unlink(missing_ok=True)
    say(f"local stack down (logs kept in {LOGS.relative_to(ROOT)})")


def status() -> int:
    state = load_state()
    running = {"ministack": alive(state.get("ministack-pid"))}
    if not state.get("sandbox"):  # with the sandbox, CM is a Lambda in ministack
        running["cm-simulator"] = alive(state.get("simulator-pid"))
    for name, is_up in running.items():
        say(f"{name}: {'running' if is_up else 'stopped'}")
    if STACK_FILE.exists():
        print(STACK_FILE.read_text(), end="")
    return 0 if all(running.values()) else 1


def logs() -> None:
    """Follow the functions' CloudWatch logs (in ministack) and the simulator's log."""
    import boto3

    state = load_state()
    client = boto3.client(
        "logs", endpoint_url=state["aws-endpoint-url"], region_name=REGION, **_keys()
    )
    LOGS.mkdir(parents=True, exist_ok=True)
    simulator_log = (LOGS / "cm-simulator.log").open("a+")  # none with the sandbox
    simulator_log.seek(0, os.SEEK_END)
    since = int(time.time() * 1000)
    say("following logs (Ctrl-C to stop)")
    seen: set[tuple[str, str, int, str]] = set()
    while True:
        for line in simulator_log.readlines():
            print(f"cm-simulator | {line}", end="", flush=True)
        groups = client.describe_log_groups()["logGroups"]
        for group in groups:
            name = group["logGroupName"]
            if not (name.startswith((f"/{STACK_NAME}/", "/aws/lambda/"))):
                continue
            page = client.filter_log_events(logGroupName=name, startTime=since)
            for event in page.get("events", []):
                key = (name, event.get("logStreamName", ""), event["timestamp"], event["message"])
                if key in seen:
                    continue
                seen.add(key)
                label = name.rsplit("/", 1)[-1][:24]
                print(f"{label} | {event['message'].rstrip()}", flush=True)
        time.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "logs", "status"])
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="up: deploy with CmSandbox=true Environment=dev (CM is the stack's sandbox Lambda)",
    )
    arguments = parser.parse_args()
    command = arguments.command
    if command == "up":
        up(sandbox=arguments.sandbox)
    elif command == "down":
        down()
    elif command == "logs":
        with contextlib.suppress(KeyboardInterrupt):
            logs()
    else:
        return status()
    return 0


if __name__ == "__main__":
    sys.exit(main())
