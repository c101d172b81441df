"""What an env file (``.env``) holds, weighed: does it look like secrets, or plain settings?

A ``.env`` in a frontend project often holds only public settings (``VITE_API_URL=...``),
and warning about it as a secret sends the developer in circles. A variable counts as a
secret when its name says so (TOKEN, SECRET, PASSWORD, KEY, CREDENTIAL...), when its value
is a URL with a password in it, or when the value looks random (long, mixed letters and
digits, high Shannon entropy: a token someone pasted). Pure: text in, names out.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW(?:OR)?D|\bPWD|(?:^|_)PASS(?:$|_)|(?:^|_)KEY(?:$|_)|APIKEY|CREDENTIAL"
    r"|PRIVATE|(?:^|_)AUTH|SIGNING|SALT|(?:^|_)DSN(?:$|_)|SESSION|COOKIE|CERT",
    re.IGNORECASE,
)
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@", re.IGNORECASE)
_RANDOM_LENGTH = 20
_RANDOM_BITS = 3.5  # Shannon entropy per character; English words and URLs stay below


def secret_looking(text: str) -> list[str]:
    """The names of the variables in env-file ``text`` that look like secrets, in order."""
    found = []
    for raw in text.splitlines():
        line = raw.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name, value = name.strip(), value.strip().strip("'\"")
        if value and (_SECRET_NAME.search(name) or _is_secret_value(value)):
            found.append(name)
    return found


def _is_secret_value(value: str) -> bool:
    if _URL_WITH_PASSWORD.match(value):
        return True
    if len(value) < _RANDOM_LENGTH or "://" in value or " " in value:
        return False
    has_letter = any(char.isalpha() for char in value)
    has_digit = any(char.isdigit() for char in value)
    return has_letter and has_digit and _entropy(value) >= _RANDOM_BITS


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
