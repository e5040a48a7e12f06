"""Secrets out of what the harness writes for people: SASL passwords, JAAS configs, keys and
tokens in client or broker overrides, SSH passwords and key passphrases become "***" in saved experiments, reports and the workers'
runtime files (a worker gets its secrets through the environment instead: `secrets`, `restore`)."""

from __future__ import annotations

import re

SECRET_KEY = re.compile(r"password|passphrase|secret|jaas|token|credential|private|\.pem$", re.IGNORECASE)
REDACTED = "***"


def redact(data):
    """A copy of `data` (dicts, lists, scalars) with the value of every secret-named key hidden."""
    if isinstance(data, dict):
        return {k: REDACTED if isinstance(k, str) and SECRET_KEY.search(k) and data[k] is not None else redact(v)
                for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


def secrets(data):
    """Only the secret-named values of `data`, at their paths: what `redact` hid."""
    if not isinstance(data, dict):
        return {}
    found = {}
    for k, v in data.items():
        if isinstance(k, str) and SECRET_KEY.search(k) and v is not None:
            found[k] = v
        elif isinstance(v, dict) and (inner := secrets(v)):
            found[k] = inner
    return found


def restore(data, hidden: dict):
    """`data` with the values in `hidden` (from `secrets`) put back: the inverse of `redact`."""
    if not hidden:
        return data
    return {k: hidden[k] if k in hidden and v == REDACTED
            else restore(v, hidden.get(k, {})) if isinstance(v, dict) else v
            for k, v in data.items()}
