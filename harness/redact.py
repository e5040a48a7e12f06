"""Secrets out of what the harness writes for people: SASL passwords, JAAS configs, keys and
tokens in client or broker overrides become "***" in saved experiments and reports."""

from __future__ import annotations

import re

SECRET_KEY = re.compile(r"password|secret|jaas|token|credential|private|\.pem$", re.IGNORECASE)
REDACTED = "***"


def redact(data):
    """A copy of `data` (dicts, lists, scalars) with the value of every secret-named key hidden."""
    if isinstance(data, dict):
        return {k: REDACTED if isinstance(k, str) and SECRET_KEY.search(k) and data[k] is not None else redact(v)
                for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data
