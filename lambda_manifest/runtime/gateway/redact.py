"""Redaction of e-mail addresses, phone numbers and secrets in text that may reach the logs."""

from __future__ import annotations

import re
from collections.abc import Callable

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any


def _phone(m: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in m.group(0))
    return "[REDACTED:PHONE]" if 9 <= digits <= 15 else m.group(0)


# Order matters: secrets first (they may contain digit runs that look like phone numbers).
_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        "[REDACTED:PRIVATE_KEY]",
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer [REDACTED:TOKEN]"),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b"), "[REDACTED:AWS_KEY]"),
    (
        re.compile(
            r"(?i)(aws_?secret_?access_?key|aws_?session_?token)(\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{16,}"
        ),
        r"\1\2[REDACTED:AWS_SECRET]",
    ),
    (re.compile(r"\b(?:sk|rk|pk)-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{16,}"), "[REDACTED:API_KEY]"),
    (re.compile(r"\blmg-[A-Za-z0-9_-]{16,}"), "[REDACTED:API_KEY]"),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"), "[REDACTED:API_KEY]"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "[REDACTED:API_KEY]"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "[REDACTED:API_KEY]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "[REDACTED:JWT]"),
    (
        re.compile(r"(?i)\b(api[_-]?key|secret|token|password|passwd)(\s*[:=]\s*[\"']?)[^\s\"',;]{6,}"),
        r"\1\2[REDACTED:SECRET]",
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[REDACTED:EMAIL]"),
    (re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{7,}\d(?!\w)"), _phone),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_any(value: Any) -> Any:
    """Redact every string inside a JSON-like value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_any(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_any(v) for k, v in value.items()}
    return value
