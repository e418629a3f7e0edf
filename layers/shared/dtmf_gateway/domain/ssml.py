"""SSML prompt checks: well-formed XML with a single ``<speak>`` root, parsed safely.

Parsed with the stdlib :mod:`xml.parsers.expat` and hardened before the first byte:

* any ``<!DOCTYPE …>`` is refused the moment it starts, so no entity can ever be declared
  (billion-laughs expansion and external entities/XXE are refused *before* expansion);
* entity declarations are refused as well (belt and braces), parameter entities are never
  parsed and external entity references are never resolved;
* undeclared entities (``&xxe;``) are plain well-formedness errors.

The text is already bounded (≤ 1000 characters) by the prompt fields.
"""

from __future__ import annotations

from typing import Final
from xml.parsers import expat

#: The W3C SSML namespace; ``<speak>`` may be in it or in no namespace at all.
SSML_NAMESPACE: Final = "http://www.w3.org/2001/10/synthesis"

_NS_SEPARATOR: Final = " "
_NOT_ALLOWED: Final = "DOCTYPE and entity declarations are not allowed in SSML"
_SINGLE_ROOT: Final = "SSML must be a single <speak> element"


class SsmlError(ValueError):
    """The SSML is refused; ``str(error)`` says why."""


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _refuse_declarations(*_args: object) -> None:
    raise _Refused(_NOT_ALLOWED)


def _refuse_external(*_args: object) -> int:
    raise _Refused(_NOT_ALLOWED)


def check_ssml(text: str) -> None:
    """Return when ``text`` is an acceptable SSML document, else raise :class:`SsmlError`."""
    if text.strip() and not text.lstrip().startswith("<"):
        raise SsmlError(
            f"{_SINGLE_ROOT}; this looks like plain text (use prompt type TTS for plain text)"
        )
    parser = expat.ParserCreate(encoding="utf-8", namespace_separator=_NS_SEPARATOR)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_declarations
    parser.EntityDeclHandler = _refuse_declarations
    parser.UnparsedEntityDeclHandler = _refuse_declarations
    parser.ExternalEntityRefHandler = _refuse_external
    depth = 0
    roots = 0

    def start(name: str, _attributes: object) -> None:
        nonlocal depth, roots
        if depth == 0:
            roots += 1
            namespace, _, local = name.rpartition(_NS_SEPARATOR)
            if local != "speak":
                raise _Refused(f"{_SINGLE_ROOT}; the root element is <{local}>")
            if namespace not in ("", SSML_NAMESPACE):
                raise _Refused(
                    f"the <speak> element must be in no namespace or in {SSML_NAMESPACE}"
                )
        depth += 1

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(text, True)
    except _Refused as refused:
        raise SsmlError(refused.message) from None
    except expat.ExpatError as error:
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT]:
            raise SsmlError(_SINGLE_ROOT) from None
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]:
            raise SsmlError(f"{_SINGLE_ROOT}; the text has no element") from None
        reason = expat.errors.messages[error.code]
        raise SsmlError(
            f"SSML is not well-formed XML: line {error.lineno}, column {error.offset + 1}: {reason}"
        ) from None
    if roots != 1:  # pragma: no cover - expat already refuses this; kept as a guard
        raise SsmlError(_SINGLE_ROOT)
