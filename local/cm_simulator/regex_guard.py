"""Time-bounded regular-expression matching.

An instruction's ``regex`` comes from the client, and a pattern such as ``(0+)+1`` can
backtrack for hours on 40 digits. Python's ``re`` holds the GIL while matching, so running
it in a thread would freeze the whole simulator. Patterns are therefore evaluated in a small
helper process (stdlib only, started on first use); if it does not answer within the time
limit it is killed, replaced on the next use, and the input counts as not matching.
"""

from __future__ import annotations

import json
import logging
import select
import subprocess
import sys
import threading
from typing import IO

logger = logging.getLogger("cm_simulator")

_WORKER = """
import json, re, sys
for line in sys.stdin:
    pattern, text = json.loads(line)
    try:
        answer = re.fullmatch(pattern, text) is not None
    except re.error:
        answer = None
    sys.stdout.write(json.dumps(answer) + "\\n")
    sys.stdout.flush()
"""


class RegexGuard:
    """``guard.fullmatch(pattern, text)`` -> True / False, or None when it timed out or failed."""

    def __init__(self, timeout: float = 1.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._cache: dict[tuple[str, str], bool | None] = {}

    def _start(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        return self._process

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    def _ask(self, pattern: str, text: str) -> bool | None:
        for _ in range(2):  # one restart if the helper died in between
            process = self._start()
            stdin: IO[str] | None = process.stdin
            stdout: IO[str] | None = process.stdout
            if stdin is None or stdout is None:  # pragma: no cover - PIPE always gives streams
                return None
            try:
                stdin.write(json.dumps([pattern, text]) + "\n")
                stdin.flush()
            except OSError:
                self._kill()
                continue
            ready, _, _ = select.select([stdout], [], [], self.timeout)
            if not ready:
                logger.warning(
                    "regex %r took longer than %.1f s on %d keys: treated as not matching",
                    pattern,
                    self.timeout,
                    len(text),
                )
                self._kill()
                return None
            line = stdout.readline()
            if not line:
                self._kill()
                continue
            answer = json.loads(line)
            return answer if isinstance(answer, bool) else None
        return None

    def fullmatch(self, pattern: str, text: str) -> bool | None:
        key = (pattern, text)
        with self._lock:
            if key not in self._cache:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = self._ask(pattern, text)
            return self._cache[key]

    def close(self) -> None:
        with self._lock:
            self._kill()
