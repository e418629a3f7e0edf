"""SSML prompt checks: well-formed XML with a single ``<speak>`` root, parsed safely, and
nothing but the SSML 1.1 elements and attributes a TTS engine speaks with.

Parsed with the stdlib :mod:`xml.parsers.expat` and hardened before the first byte:

* any ``<!DOCTYPE …>`` is refused the moment it starts, so no entity can ever be declared
  (billion-laughs expansion and external entities/XXE are refused *before* expansion);
* entity declarations are refused as well (belt and braces), parameter entities are never
  parsed and external entity references are never resolved;
* undeclared entities (``&xxe;``) are plain well-formedness errors.

Allowlist. CM documents ``TTS_SSML`` without listing the tags it supports
(``docs/research/cm-voice-dtmf.md`` §5), so the allowlist is the W3C SSML 1.1 speech
elements (https://www.w3.org/TR/speech-synthesis11/ §3) that every major engine reads,
with their attributes (:data:`ALLOWED`); elements from any other namespace (XInclude,
XSLT, ...), processing instructions (``<?xml-stylesheet …?>``) and everything that makes
the engine fetch something - ``<lexicon uri>``, ``<meta>``/``<metadata>``, an
``xsi:schemaLocation`` naming any schema but W3C's SSML schema, and ``<audio src>`` outside
the customer's Voice Audio Manager - are refused. Control characters written as character
references (``&#x7f;``) are refused like the raw ones in a prompt. ``<audio src>`` must be a
Voice Audio Manager path, exactly like a ``File`` prompt (no URL at all: no https, so no
request to loopback, link-local or private addresses can be smuggled in).

The text is already bounded (≤ 1000 characters) by the prompt fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from xml.parsers import expat

from dtmf_gateway.domain.audio_paths import file_path_problem

#: The W3C SSML namespace; ``<speak>`` may be in it or in no namespace at all.
SSML_NAMESPACE: Final = "http://www.w3.org/2001/10/synthesis"

#: The XML namespace (``xml:lang``), as expat names its attributes.
XML_NAMESPACE: Final = "http://www.w3.org/XML/1998/namespace"

_LANG: Final = "xml:lang"
_SCHEMA_LOCATION: Final = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
#: The only schemas ``xsi:schemaLocation`` may name: W3C's own SSML 1.0 and 1.1 schemas. A
#: schema location is an address a validating parser may fetch, so any other is refused.
W3C_SCHEMAS: Final = frozenset(
    {
        "http://www.w3.org/TR/speech-synthesis/synthesis.xsd",
        "http://www.w3.org/TR/speech-synthesis11/synthesis.xsd",
    }
)
#: Control characters refused in the parsed text and attribute values (the same as in a
#: prompt: C0 except tab/CR/LF, DEL, C1), which character references (``&#x7f;``) could
#: otherwise smuggle past the check of the prompt's raw text.
_CONTROLS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: SSML 1.1 elements accepted, and the attributes each may carry (W3C SSML 1.1 §3.1-3.3).
ALLOWED: Final[Mapping[str, frozenset[str]]] = {
    "speak": frozenset({"version", _LANG, _SCHEMA_LOCATION}),
    "p": frozenset({_LANG}),
    "s": frozenset({_LANG}),
    "lang": frozenset({_LANG}),
    "voice": frozenset({"gender", "age", "variant", "name", "languages", _LANG}),
    "emphasis": frozenset({"level"}),
    "break": frozenset({"time", "strength"}),
    "prosody": frozenset({"pitch", "contour", "range", "rate", "duration", "volume"}),
    "say-as": frozenset({"interpret-as", "format", "detail"}),
    "sub": frozenset({"alias"}),
    "phoneme": frozenset({"ph", "alphabet"}),
    "mark": frozenset({"name"}),
    "audio": frozenset({"src", "clipBegin", "clipEnd", "repeatCount", "soundLevel", "speed"}),
    "desc": frozenset({_LANG}),
}

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


def _refuse_instruction(target: str, _data: str) -> None:
    raise _Refused(f"processing instructions (<?{target} …?>) are not allowed in SSML")


def _attribute_name(name: str) -> str:
    namespace, _, local = name.rpartition(_NS_SEPARATOR)
    if namespace == XML_NAMESPACE:
        return f"xml:{local}"
    return f"{{{namespace}}}{local}" if namespace else local


def _check_element(namespace: str, local: str, attributes: dict[str, str]) -> None:
    allowed = ALLOWED.get(local)
    if namespace not in ("", SSML_NAMESPACE) or allowed is None:
        shown = f"{{{namespace}}}{local}" if namespace else local
        raise _Refused(
            f"the element <{shown}> is not allowed in SSML; use only "
            f"{', '.join(f'<{name}>' for name in ALLOWED)}"
        )
    for raw_name, value in attributes.items():
        name = _attribute_name(raw_name)
        if name not in allowed:
            raise _Refused(f"the attribute {name} is not allowed on <{local}>")
        _check_controls(value, f"the attribute {name} of <{local}>")
        if local == "audio" and name == "src":
            problem = file_path_problem(value)
            if problem:
                raise _Refused(f"<audio src> {problem}")
        if name == _SCHEMA_LOCATION:
            _check_schema_location(value)


def _check_controls(text: str, where: str) -> None:
    found = _CONTROLS.search(text)
    if found:
        raise _Refused(
            f"{where} must not contain control characters (U+{ord(found.group()):04X}, "
            "written as a character reference)"
        )


def _check_schema_location(value: str) -> None:
    tokens = value.split()
    pairs = list(zip(tokens[::2], tokens[1::2], strict=False))
    if (
        not pairs
        or len(tokens) % 2
        or any(ns != SSML_NAMESPACE or url not in W3C_SCHEMAS for ns, url in pairs)
    ):
        raise _Refused(
            f"xsi:schemaLocation may only name W3C's SSML schema ({SSML_NAMESPACE} "
            f"{sorted(W3C_SCHEMAS)[-1]}): a parser could fetch any other address"
        )


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
    parser.ProcessingInstructionHandler = _refuse_instruction
    depth = 0
    roots = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, roots
        namespace, _, local = name.rpartition(_NS_SEPARATOR)
        if depth == 0:
            roots += 1
            if local != "speak":
                raise _Refused(f"{_SINGLE_ROOT}; the root element is <{local}>")
            if namespace not in ("", SSML_NAMESPACE):
                raise _Refused(
                    f"the <speak> element must be in no namespace or in {SSML_NAMESPACE}"
                )
        _check_element(namespace, local, attributes)
        depth += 1

    def text_data(data: str) -> None:
        _check_controls(data, "the text")

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.ordered_attributes = False
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text_data
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
