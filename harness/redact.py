"""Secrets out of what the harness writes for people: SASL and SCRAM passwords, JAAS configs, keys
and tokens in client or broker overrides, SSH passwords and key passphrases, and any private key
(a PEM block, whatever its field is called) become "***" in saved experiments, reports and the
workers' runtime files (a worker gets its secrets through the environment instead: `secrets`,
`restore`). A field that says where a secret is (`password_env`, `password_file`: a variable's
name, a path) is kept: a process that takes up the cluster later reads the secret from there."""

from __future__ import annotations

import re

SECRET_KEY = re.compile(r"password|passphrase|secret|jaas|token|credential|private|scram|\.pem$|\.key$",
                        re.IGNORECASE)
REFERENCE = re.compile(r"_(env|file)$")  # where a secret is (a variable's name, a path): kept, so it can be read
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
REDACTED = "***"


def is_secret(key, value) -> bool:
    """A value hidden from what is written: under a secret-sounding name, or a private key itself."""
    if value is None:
        return False
    return (isinstance(key, str) and bool(SECRET_KEY.search(key)) and not REFERENCE.search(key)) or \
        (isinstance(value, str) and bool(PRIVATE_KEY.search(value)))


def redact(data):
    """A copy of `data` (dicts, lists, scalars) with the value of every secret-named key, and every
    private key, hidden."""
    if isinstance(data, dict):
        return {k: REDACTED if is_secret(k, v) else redact(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    if isinstance(data, str) and PRIVATE_KEY.search(data):
        return REDACTED
    return data


def secrets(data):
    """Only the secret values of `data` in its mappings, at their paths: what `redact` hid there."""
    if not isinstance(data, dict):
        return {}
    found = {}
    for k, v in data.items():
        if is_secret(k, v):
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
