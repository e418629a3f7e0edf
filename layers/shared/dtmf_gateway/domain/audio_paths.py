"""Audio file paths in the customer's CM Voice Audio Manager (``File`` prompts and SSML
``<audio src>``): the only audio sources the gateway lets a client name."""

from __future__ import annotations

from typing import Final

_FILE_PATH_RULES: Final = (
    "a path relative to the root of your CM Voice Audio Manager storage, e.g. prompts/pin.wav"
)


def file_path_problem(path: str) -> str | None:  # noqa: PLR0911 - one reason per rule
    """Why ``path`` is not an acceptable Voice Audio Manager path, or None.

    Source: CM's ``File`` prompt is "the path + file name relative to the root" of the
    customer's audio storage (``docs/research/cm-voice-dtmf.md`` §5). A scheme (``https:``,
    ``data:``, ``file:``) or a network path (``//host``) is refused: CM must never fetch
    anything a client names.
    """
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return f"must not contain control characters; give {_FILE_PATH_RULES}"
    if "://" in path or path.startswith("//") or ":" in path.split("/", 1)[0]:
        return f"must be a file path, not a URL; give {_FILE_PATH_RULES}"
    if "\\" in path:
        return f"must use / between folders, not backslashes; give {_FILE_PATH_RULES}"
    if path.startswith("/"):
        return f"must not start with /; give {_FILE_PATH_RULES}"
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments):
        return f"must not contain . or .. segments; give {_FILE_PATH_RULES}"
    if path.endswith("/") or not segments[-1].strip():
        return f"must end with a file name; give {_FILE_PATH_RULES}"
    if any(not segment for segment in segments):
        return f"must not contain empty folder names (//); give {_FILE_PATH_RULES}"
    return None
