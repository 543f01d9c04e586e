"""Secrets never reach an output: a process-wide registry of values to mask, and the masks.

Whatever holds a credential registers it once (the API adapter registers its key, the
password of a ``user:password@`` base URL and the ``Authorization`` header value built
from them, when it loads); every sink that stores or prints text passes it through
:func:`redact` (or :func:`redact_json` for a JSON-ready object) first::

    register_secret(os.environ["OPENAI_API_KEY"])
    print(redact(error_message))
    json.dump(redact_json(record.to_json()), file)

:func:`redact` replaces every registered secret with ``***``, and the credentials of any
URL in the text (``https://user:pass@host`` -> ``https://***@host``) whether registered or
not. A value shorter than :data:`MIN_SECRET_LENGTH` characters is not registered: masking
``"a"`` or ``"1234"`` would mangle every output, and no real key is that short (such a
password is still masked inside URLs). The registry only grows: records written at the
end of a run must still be masked after the model that held the key was closed.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from typing import Any

__all__ = ["MASK", "MIN_SECRET_LENGTH", "public_url", "redact", "redact_json", "register_secret"]

MASK = "***"
MIN_SECRET_LENGTH = 6
"""Shorter values are not registered (see the module docstring)."""

_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s]+@")
"""``scheme://userinfo@``, up to the last ``@`` of the authority (a password may hold an unencoded ``@``)."""

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()
"""The secrets, longest first, so a secret containing another is masked whole."""


def register_secret(value: str | None) -> bool:
    """Mask ``value`` (and its URL-encoded form) in every later :func:`redact`.

    Returns whether it was registered: ``None``, an empty value, or one shorter than
    :data:`MIN_SECRET_LENGTH` characters after stripping whitespace is not.
    """
    global _ordered
    if value is None or len(value.strip()) < MIN_SECRET_LENGTH:
        return False
    forms = {value, value.strip(), urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value, safe="")}
    with _lock:
        _secrets.update(f for f in forms if len(f) >= MIN_SECRET_LENGTH)
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))
    return True


def is_registered(value: str) -> bool:
    """Whether ``value`` is masked by :func:`redact`."""
    return value in _secrets


def redact(text: str) -> str:
    """``text`` with every registered secret and every URL's ``user:password@`` replaced by ``***``."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    if "@" in text and "://" in text:
        text = _URL_CREDENTIALS.sub(rf"\g<scheme>{MASK}@", text)
    return text


def redact_json(obj: Any) -> Any:
    """A copy of ``obj`` with :func:`redact` applied to every string in it, keys included.

    Walks dicts, lists and tuples (a tuple stays a tuple); other values are returned as they
    are. Meant for JSON-ready data (records' ``to_json()``, ``user_properties`` values).
    """
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact(k) if isinstance(k, str) else k: redact_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_json(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_json(v) for v in obj)
    return obj


def public_url(url: str) -> str:
    """``url`` without its ``user:password@`` part (``***@`` for a URL without a scheme), other secrets masked."""
    if "://" not in url:  # user:pass@host/v1: urlsplit would read "user" as the scheme
        return redact(MASK + url[url.rfind("@") :] if "@" in url else url)
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.netloc:
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return redact(url)
