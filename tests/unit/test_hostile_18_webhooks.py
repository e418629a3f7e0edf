"""Hostile review of issue 18's webhooks: targets a client may name, and what a hostile
receiver (or its DNS) can make one delivery attempt do."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dtmf_gateway.adapters.webhooks import DnsResolver, HttpWebhookSender, WebhookSigningSecret
from dtmf_gateway.domain.errors import InvalidRequest
from dtmf_gateway.domain.request import parse_dtmf_call_request
from dtmf_gateway.domain.webhooks import (
    DeliverWebhook,
    Verdict,
    WebhookMessage,
    WebhookTargets,
)
from tests.unit.test_webhooks import BODY, EVENT, SECRET, TARGETS, Provider, Urls


class Receiver:
    """A TCP server on loopback that answers every connection with `script`: a list of
    (bytes, pause-after) steps; it records how many connections it accepted."""

    def __init__(self, script: list[tuple[bytes, float]]) -> None:
        self.script = script
        self.accepted = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1)
            try:
                conn.recv(65536)
                for chunk, pause in self.script:
                    if self.stop.is_set():
                        return
                    conn.sendall(chunk)
                    time.sleep(pause)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(script: list[tuple[bytes, float]]) -> Receiver:
        receiver = Receiver(script)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


def _sender(total_timeout: float = 1.0) -> HttpWebhookSender:
    signing = WebhookSigningSecret(
        Provider(json.dumps({"current": SECRET})),  # type: ignore[arg-type]
        secret="s",
        max_age=300,
    )
    return HttpWebhookSender(signing, connect_timeout=0.5, total_timeout=total_timeout)


def test_a_receiver_that_drips_its_body_does_not_hold_the_attempt_past_its_timeout(
    receiver_factory: Any,
) -> None:
    """README: "no answer within the timeouts (3 s to connect, 10 s in all)". The status
    line already says 2xx; the sender then read the whole body, which a receiver can drip a
    byte at a time (each read inside httpx's per-read timeout) or make gigabytes long: the
    Lambda is held (and its memory filled) for as long as the receiver likes. Only the status
    matters: the body is not read."""
    drip = [(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", 0.0)] + [(b"x", 0.25)] * 40
    receiver = receiver_factory(drip)

    started = time.monotonic()
    answer = _sender(total_timeout=1.0).send(
        f"http://127.0.0.1:{receiver.port}/hook", "msg_1", "{}"
    )

    assert answer is None
    assert time.monotonic() - started < 2.0


def test_a_receiver_that_drips_its_headers_is_cut_off_at_the_total_timeout(
    receiver_factory: Any,
) -> None:
    """README: "10 s in all". httpx's timeout is per operation (connect, each read): a
    receiver sending its status line and headers a byte at a time, each byte inside the read
    timeout, held one attempt (its lane, a Lambda) up to the function's own timeout."""
    head = b"HTTP/1.1 204 No Content\r\nX-Slow: " + b"y" * 12 + b"\r\n\r\n"
    receiver = receiver_factory([(bytes([b]), 0.2) for b in head])

    started = time.monotonic()
    answer = _sender(total_timeout=1.0).send(
        f"http://127.0.0.1:{receiver.port}/hook", "msg_1", "{}"
    )

    assert answer == "timeout"
    assert time.monotonic() - started < 2.0


def test_a_host_that_rebinds_to_loopback_between_check_and_connect_is_not_connected_to(
    receiver_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the delivery resolved the host and checked every address was public,
    then handed the URL to httpx, which resolved it again and connected wherever that second
    answer pointed (127.0.0.1, 169.254.169.254, ...). The connection is now pinned to a
    checked address (IP in the URL, the name in Host and SNI)."""
    receiver = receiver_factory([(b"HTTP/1.1 204 No Content\r\n\r\n", 0.0)])
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.example.com":
            return real(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")  # public once (the check), then loopback
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    deliver = DeliverWebhook(
        targets=TARGETS,
        urls=Urls(f"https://hooks.example.com:{receiver.port}/x"),
        resolver=DnsResolver(),
        sender=_sender(),
        base_delay_seconds=60,
        max_attempts=3,
    )

    outcome = deliver.attempt(WebhookMessage.from_event(EVENT), 1)

    assert receiver.accepted == 0, "the attempt connected to 127.0.0.1"
    assert outcome.verdict is Verdict.RETRY


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com:0/dtmf",  # port 0: no receiver can listen there
        "https://hooks.example.com../dtmf",  # two trailing dots: not the allowed name
        "https://hooks.example.com.../dtmf",
    ],
)
def test_a_target_that_is_not_the_allowed_host_or_no_port_at_all_is_refused(url: str) -> None:
    """README: the host must be one of `AllowedWebhookHosts` (exact names). One trailing dot
    is the same DNS name; `hooks.example.com..` is not a name at all, yet was accepted (and
    then retried for 24 hours into the DLQ), as was port 0."""
    with pytest.raises(InvalidRequest) as raised:
        parse_dtmf_call_request({**BODY, "webhook-url": url}, webhook_targets=TARGETS)

    assert [p.field for p in raised.value.problems] == ["webhook-url"]


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://0x7f.0.0.1/",
        "https://0x7f000001/",
        "https://127.1/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:7f00:1]/",
        "https://[fe80::1%25eth0]/",
        "https://hooks.example.com@169.254.169.254/",
        "https://169.254.169.254\\@hooks.example.com/",
        "https://hooks.example.com%2f@evil.net/",
        "https://hooks.example.com:443@evil.net/",
        "https://hooks%2eexample%2ecom/",
        "https://xn--hooks-example.com/",
        "https://\uff48ooks.example.com/",  # fullwidth h
        "https://hooks。example。com/",
        "https://hooks.exam\u00adple.com/",
        "https://hooks.example.com\u200b/",
        "https://localhost./",
        "https://LOCALHOST/",
        "https://hooks.example.com\x00.evil.net/",
        "https://" + "a." * 600 + "hooks.example.com/",
    ],
)
def test_private_targets_in_every_notation_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_dtmf_call_request({**BODY, "webhook-url": url}, webhook_targets=TARGETS)


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "100.64.0.1",
        "192.0.0.8",
        "198.18.0.1",
        "::",
        "64:ff9b::7f00:1",
        "64:ff9b::a00:7",
        "2002:7f00:1::",
        "::7f00:1",  # IPv4-compatible (deprecated, ::/8 reserved): was counted public
        "::a9fe:a9fe",
        "::ffff:0:a00:7",  # SIIT IPv4-translated: was counted public
        "fec0::1",  # site-local: was counted public
    ],
)
def test_unspecified_shared_and_translated_addresses_are_not_public(address: str) -> None:
    """README: never loopback, link-local, private, shared or reserved ranges. NAT64
    (64:ff9b::/96) and 6to4 (2002::/16) embed an IPv4 address; 0.0.0.0 and :: reach the
    host itself on Linux; ::/8 is reserved by IANA (Python's is_global lets it through)."""

    class Fixed:
        def resolve(self, host: str) -> list[Any]:
            return [ipaddress.ip_address(address)]

    class Never:
        def send(self, url: str, message_id: str, payload: str, address: Any = None) -> str | None:
            raise AssertionError(f"posted to {address}")

    deliver = DeliverWebhook(
        targets=TARGETS,
        urls=Urls("https://hooks.example.com/x"),
        resolver=Fixed(),
        sender=Never(),
        base_delay_seconds=60,
        max_attempts=3,
    )

    outcome = deliver.attempt(WebhookMessage.from_event(EVENT), 1)

    assert outcome.verdict is Verdict.RETRY


def _signed(secret: dict[str, Any], payload: str) -> tuple[bytes, dict[str, str]]:
    import httpx

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    signing = WebhookSigningSecret(
        Provider(json.dumps(secret)),  # type: ignore[arg-type]
        secret="s",
        max_age=300,
    )
    sender = HttpWebhookSender(
        signing, connect_timeout=1, total_timeout=2, transport=httpx.MockTransport(handler)
    )
    assert sender.send("https://hooks.example.com/x", "msg_1", payload) is None
    [request] = seen
    return request.content, dict(request.headers)


def test_a_receiver_with_a_wrong_or_retired_secret_refuses_and_the_base64_part_alone_works() -> (
    None
):
    from standardwebhooks import Webhook, WebhookVerificationError

    payload = json.dumps({"type": "DTMF Result", "data": {"metadata": {"n": "é😀"}}})
    body, headers = _signed({"current": SECRET.removeprefix("whsec_"), "previous": ""}, payload)

    assert Webhook(SECRET).verify(body, headers)["data"]["metadata"]["n"] == "é😀"
    retired = "whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LWtleQ=="
    with pytest.raises(WebhookVerificationError):
        Webhook(retired).verify(body, headers)  # rotation finished: the old key is refused
    tampered = {**headers, "webhook-id": "msg_2"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, tampered)


@pytest.mark.parametrize("current", [None, "", "   ", 12345678])
def test_a_secret_without_a_usable_current_key_fails_loudly(current: Any) -> None:
    """`{"current": null, "previous": k}` signed with the key the text "None" decodes to, and
    `{"current": "", "previous": k}` with `previous` alone: a broken rotation went unnoticed
    (README: new messages are signed with `current`)."""
    from dtmf_gateway.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="webhook signing secret"):
        _signed({"current": current, "previous": SECRET}, "{}")


def test_one_host_on_many_ports_is_still_one_host_for_its_lanes() -> None:
    """README: at most `WebhookConcurrencyPerHost` deliveries to one host are in flight. The
    lanes were keyed by host:port, and the port is the client's choice: instructions naming
    the allowed host on ports 1..N (a slow or silent host: 3 s connect timeout per attempt)
    got 2N lanes, i.e. all of `WebhookMaxConcurrency`, starving every other receiver."""
    from dtmf_gateway.domain.webhooks import lane_of

    ids = [f"msg_{n:032x}" for n in range(50)]
    lanes = {
        lane_of(f"https://hooks.example.com:{port}/x", i, 2)
        for port in range(1000, 1100)
        for i in ids
    }

    assert len(lanes) == 2


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "169.254.169.254.", "0x7f000001"]
)
def test_an_ip_address_in_another_notation_is_refused_as_one_even_if_listed(host: str) -> None:
    """README: no IP address. `AllowedWebhookHosts` accepts any `[A-Za-z0-9.-]+`, so an
    operator can list `2130706433` or `0x7f.1`; the request check only recognised canonical
    IP literals and accepted those hosts, which every resolver reads as 127.0.0.1 (only the
    delivery-time address check stood in the way)."""
    targets = WebhookTargets.from_settings(f"hooks.example.com,{host}", allow_loopback=False)

    with pytest.raises(InvalidRequest) as raised:
        parse_dtmf_call_request(
            {**BODY, "webhook-url": f"https://{host}/x"}, webhook_targets=targets
        )

    assert "not an IP address" in raised.value.problems[0].message


def test_a_host_name_with_digits_is_still_a_host_name() -> None:
    targets = WebhookTargets.from_settings("h2o.example.com,1.example.com", allow_loopback=False)

    for url in ("https://h2o.example.com/x", "https://1.example.com/x"):
        parse_dtmf_call_request({**BODY, "webhook-url": url}, webhook_targets=targets)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/\x7f",
        "https://hooks.example.com/a\x01b",
        "https://hooks.example.com/?a=\x00",
        "https://hooks.example.com/\ud800",
        "https://hooks.example.com/\u200e",
    ],
)
def test_a_url_with_control_characters_is_refused_at_request_time(url: str) -> None:
    """These passed the request check (only whitespace was refused), were stored, and then
    made httpx raise InvalidURL / UnicodeEncodeError — neither an httpx.HTTPError — at every
    delivery attempt, failing the delivery function's batch instead of one attempt."""
    with pytest.raises(InvalidRequest):
        parse_dtmf_call_request({**BODY, "webhook-url": url}, webhook_targets=TARGETS)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/\x7f", "https://hooks.example.com/\ud800"]
)
def test_a_url_httpx_cannot_send_fails_the_attempt_not_the_function(url: str) -> None:
    """A webhook-url stored before the check above (or by a later, looser one) is a failed
    attempt with a reason: retried, then dead-lettered, never an exception out of the
    sender."""
    reason = _sender().send(url, "msg_1", "{}")

    assert reason is not None
    assert reason.startswith(("InvalidURL", "UnicodeEncodeError"))


def _readme_receiver() -> str:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    [block] = [b for b in blocks if "def receive(" in b]
    return block


def test_the_readmes_python_receiver_works_with_the_header_case_a_framework_gives() -> None:
    """README's receiver example verified with the library (which lowercases header names)
    and then read `headers["webhook-id"]` itself: with the headers as Flask/Werkzeug or
    http.server hand them over (`Webhook-Id`) that is a KeyError — a 500 for every webhook,
    24 hours of retries, the DLQ."""
    seen: set[str] = set()
    handled: list[str] = []
    namespace: dict[str, Any] = {
        "secret": SECRET,
        "already_seen": lambda message_id: message_id in seen or seen.add(message_id),
        "handle": lambda kind, _data: handled.append(kind),
    }
    exec(_readme_receiver(), namespace)  # noqa: S102 - the README's own example
    payload = json.dumps({"type": "DTMF Result", "data": {"instruction-id": "x"}})
    body, headers = _signed({"current": SECRET}, payload)
    framework_headers = {k.title(): v for k, v in headers.items()}  # Webhook-Id, ...

    assert namespace["receive"](body, framework_headers) == 204
    assert namespace["receive"](body, framework_headers) == 204  # the retry: seen
    assert handled == ["DTMF Result"]
    forged = {**framework_headers, "Webhook-Signature": "v1,AAAA"}
    assert namespace["receive"](body, forged) == 400


def _tls_receiver(tmp_path: Any, name: str) -> tuple[int, str, list[bytes]]:
    """An https receiver on 127.0.0.1 with a self-signed certificate for `name`."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    requests: list[bytes] = []

    def serve() -> None:
        with server:
            for _ in range(2):
                try:
                    conn, _ = server.accept()
                    with context.wrap_socket(conn, server_side=True) as tls:
                        data = b""
                        while not data.endswith(b"\r\n\r\n{}"):  # the body is "{}"
                            chunk = tls.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                        requests.append(data)
                        tls.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
                except OSError:
                    continue

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], str(cert), requests


def test_a_pinned_https_delivery_still_checks_the_certificate_against_the_name(
    tmp_path: Any,
) -> None:
    """Pinning the connection to the checked address must not weaken TLS: the certificate
    is verified for the webhook-url's host name (SNI), and Host names it too."""
    import ssl

    import httpx

    port, cert, requests = _tls_receiver(tmp_path, "hooks.example.com")
    signing = WebhookSigningSecret(
        Provider(json.dumps({"current": SECRET})),  # type: ignore[arg-type]
        secret="s",
        max_age=300,
    )
    trust = ssl.create_default_context(cafile=cert)

    def sender() -> HttpWebhookSender:
        return HttpWebhookSender(
            signing,
            connect_timeout=1,
            total_timeout=2,
            transport=httpx.HTTPTransport(verify=trust),
        )

    loopback = ipaddress.ip_address("127.0.0.1")
    right = sender().send(f"https://hooks.example.com:{port}/x", "m", "{}", address=loopback)
    wrong = sender().send(f"https://other.example.com:{port}/x", "m", "{}", address=loopback)

    assert right is None
    assert wrong is not None
    assert "CERTIFICATE_VERIFY_FAILED" in wrong
    assert f"host: hooks.example.com:{port}".encode() in requests[0]
