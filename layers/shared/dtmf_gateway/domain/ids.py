"""The instruction id's rule, kept apart from the request model so that reading a path (GET,
the callback route) does not load the request's validators (phonenumbers, regex).

``instruction-id``: 1-64 characters (CM) from this safe set, not only dots (gateway: the id
goes into URLs and table keys; these are exactly the ids that come back unchanged through a
URL path segment — RFC 3986 unreserved characters plus ":", and "." / ".." would be removed
as dot segments — so no percent sign can ever be part of an id).
"""

from __future__ import annotations

import re
from typing import Final

INSTRUCTION_ID_MAX_LENGTH: Final = 64
INSTRUCTION_ID_CHARACTERS: Final = "A-Z a-z 0-9 . _ : -"
INSTRUCTION_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$"

#: Ids the gateway derives from an Idempotency-Key (``k-`` + 32 hex digits): a client may not
#: send one, else it could take the id another principal's keyed request will derive.
DERIVED_ID_PREFIX: Final = "k-"
DERIVED_ID = re.compile(r"k-[0-9a-f]{32}")
RESERVED_ID_MESSAGE: Final = (
    "ids of the form k- followed by 32 hex digits are reserved for the ids the gateway "
    "derives from an Idempotency-Key; choose another, or leave instruction-id out"
)
