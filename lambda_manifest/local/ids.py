"""The ids the emulated services hand out: Lambda request ids, X-Ray trace ids, API Gateway request ids.

They need to be unique and look like AWS's, not to be unguessable: a local run has no secret behind them.
So they come from ``random.getrandbits`` (no system call) rather than ``os.urandom``/``uuid.uuid4``, which
cost a system call and an object each, several times per request on the local API's hot path.
"""

from __future__ import annotations

import binascii
import random

_getrandbits = random.Random().getrandbits  # seeded from os.urandom: two runners never share a sequence


def uuid4_text() -> str:
    """A random (version 4, RFC 4122 variant) UUID in its usual text form, as Lambda's request ids."""
    text = f"{_getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62) | (0x4 << 76) | (0x2 << 62):032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def trace_id(epoch: float) -> str:
    """An X-Ray root id: ``1-<epoch seconds, 8 hex digits>-<96 random bits>``."""
    return f"1-{int(epoch):08x}-{_getrandbits(96):024x}"


def api_request_id() -> str:
    """API Gateway's request ids look like ``JKJaXmPLvHcESHA=``: base64 of 10 random bytes."""
    return binascii.b2a_base64(_getrandbits(80).to_bytes(10, "big"), newline=False).decode()
