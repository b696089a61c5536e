"""JSON Web Tokens with the standard library only: parsing, HS256 and RS256 signing and verification, claims.

RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2): the signature ``s`` is raised to the public
exponent (``pow(s, e, n)``) and the result must equal the EMSA-PKCS1-v1_5 encoding of the SHA-256 digest of
the signing input. Comparing full encodings, rather than parsing the decrypted block, avoids the classic
Bleichenbacher-style signature forgeries that come from lenient parsing.

Every rejection raises ``TokenError`` whose message is a short, fixed reason that is safe to log: it never
contains the token or any part of it.

Examples
--------
>>> token = sign_hs256({"sub": "u1", "exp": 2_000_000_000}, b"k" * 32)
>>> parsed = parse(token)
>>> verify_hs256(parsed, b"k" * 32)
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

# Real access tokens are well under 4 KB; a hard cap bounds the work an attacker can make us do.
MAX_TOKEN_LENGTH = 8192
MIN_RSA_BITS = 2048
MIN_HS256_SECRET_BYTES = 32

# DER encoding of DigestInfo{AlgorithmIdentifier(sha256, NULL), OCTET STRING(32)} (RFC 8017 §9.2, note 1).
_SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenError(Exception):
    """The credential is rejected; ``str(error)`` is a fixed reason that is safe to log."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding, as JWS requires (RFC 7515 §2)."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenError("malformed token: bad base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        raise TokenError(f"malformed token: {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenError(f"malformed token: {what} is not a JSON object")
    return value


@dataclass(frozen=True)
class ParsedToken:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse(token: str) -> ParsedToken:
    """Split and decode a compact JWS without verifying it.

    Raises
    ------
    TokenError
        For anything that is not three base64url segments with JSON-object header and payload, or with a
        ``crit`` header (we implement no extensions, so RFC 7515 §4.1.11 says reject).
    """
    if not isinstance(token, str) or not token:
        raise TokenError("malformed token: empty")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed token: too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed token: expected three segments")
    header = _json_object(b64url_decode(parts[0]), "header")
    claims = _json_object(b64url_decode(parts[1]), "payload")
    signature = b64url_decode(parts[2])
    if "crit" in header:
        raise TokenError("malformed token: unsupported critical header")
    if not isinstance(header.get("alg"), str):
        raise TokenError("malformed token: missing alg")
    return ParsedToken(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _encode(header: Mapping[str, Any], claims: Mapping[str, Any]) -> bytes:
    def segment(value: Mapping[str, Any]) -> str:
        return b64url_encode(json.dumps(dict(value), separators=(",", ":")).encode())

    return f"{segment(header)}.{segment(claims)}".encode("ascii")


# --- HS256 -------------------------------------------------------------------------------------------


def _as_bytes(secret: bytes | str) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign_hs256(
    claims: Mapping[str, Any], secret: bytes | str, *, headers: Mapping[str, Any] | None = None
) -> str:
    """Mint an HS256 token (for tests and the local runner; production tokens come from the IdP)."""
    header = {"alg": "HS256", "typ": "JWT", **(headers or {})}
    signing_input = _encode(header, claims)
    signature = hmac.new(_as_bytes(secret), signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{b64url_encode(signature)}"


def verify_hs256(token: ParsedToken, secret: bytes | str) -> bool:
    expected = hmac.new(_as_bytes(secret), token.signing_input, hashlib.sha256).digest()
    return hmac.compare_digest(expected, token.signature)


# --- RS256 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RsaPublicKey:
    n: int
    e: int
    kid: str | None = None

    @property
    def size_bytes(self) -> int:
        return (self.n.bit_length() + 7) // 8

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> RsaPublicKey:
        """Build a verification key from a JWK; ``ValueError`` if it is not a usable RS256 signing key."""
        if jwk.get("kty") != "RSA":
            raise ValueError("not an RSA key")
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            raise ValueError("not an RS256 signing key")
        n_text, e_text = jwk.get("n"), jwk.get("e")
        if not isinstance(n_text, str) or not isinstance(e_text, str):
            raise ValueError("missing modulus or exponent")
        try:
            n = int.from_bytes(b64url_decode(n_text), "big")
            e = int.from_bytes(b64url_decode(e_text), "big")
        except TokenError:
            raise ValueError("modulus or exponent is not base64url") from None
        if n.bit_length() < MIN_RSA_BITS:
            raise ValueError(f"modulus shorter than {MIN_RSA_BITS} bits")
        if e < 3 or e % 2 == 0 or e.bit_length() > 32:
            raise ValueError("unusual public exponent")
        kid = jwk.get("kid")
        return cls(n=n, e=e, kid=kid if isinstance(kid, str) else None)


def emsa_pkcs1_v1_5_sha256(message: bytes, length: int) -> bytes:
    """EMSA-PKCS1-v1_5 encoding of SHA-256(message) into ``length`` bytes (RFC 8017 §9.2)."""
    digest_info = _SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(message).digest()
    padding = length - len(digest_info) - 3
    if padding < 8:
        raise ValueError("key too short for SHA-256 PKCS#1 v1.5")
    return b"\x00\x01" + b"\xff" * padding + b"\x00" + digest_info


def verify_rs256(token: ParsedToken, key: RsaPublicKey) -> bool:
    length = key.size_bytes
    if len(token.signature) != length:
        return False
    s = int.from_bytes(token.signature, "big")
    if s >= key.n:
        return False
    encoded = pow(s, key.e, key.n).to_bytes(length, "big")
    return hmac.compare_digest(encoded, emsa_pkcs1_v1_5_sha256(token.signing_input, length))


def sign_rs256(
    claims: Mapping[str, Any],
    *,
    n: int,
    d: int,
    kid: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Mint an RS256 token with the private exponent ``d`` (tests and the local runner only).

    Textbook ``pow(m, d, n)``: fine for fixtures, but without CRT or blinding it is slow and not
    side-channel safe, so never sign real tokens with it.
    """
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    header.update(headers or {})
    signing_input = _encode(header, claims)
    length = (n.bit_length() + 7) // 8
    m = int.from_bytes(emsa_pkcs1_v1_5_sha256(signing_input, length), "big")
    signature = pow(m, d, n).to_bytes(length, "big")
    return f"{signing_input.decode()}.{b64url_encode(signature)}"


def public_jwk(n: int, e: int, kid: str) -> dict[str, str]:
    """The JWK for an RSA public key, as a JWKS endpoint publishes it."""
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": b64url_encode(n.to_bytes((n.bit_length() + 7) // 8, "big")),
        "e": b64url_encode(e.to_bytes((e.bit_length() + 7) // 8, "big")),
    }


# --- Claims ------------------------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_claims(
    claims: Mapping[str, Any],
    *,
    now: float,
    leeway: float,
    issuer: str | None,
    audiences: Collection[str],
) -> None:
    """Check the registered claims (RFC 7519 §4.1); raise ``TokenError`` on the first failure.

    ``exp`` and ``sub`` are required. ``leeway`` absorbs clock skew between the issuer and Lambda.
    ``issuer``/``audiences`` are checked when given (the authorizer's configuration requires both).
    """
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise TokenError("missing or invalid exp")
    if now >= exp + leeway:
        raise TokenError("token expired")
    nbf = claims.get("nbf")
    if nbf is not None and (not _number(nbf) or now + leeway < nbf):
        raise TokenError("token not yet valid")
    iat = claims.get("iat")
    if iat is not None and (not _number(iat) or iat > now + leeway):
        raise TokenError("token issued in the future")
    if issuer is not None and claims.get("iss") != issuer:
        raise TokenError("issuer mismatch")
    if audiences:
        aud = claims.get("aud")
        token_audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in audiences for a in token_audiences):
            raise TokenError("audience mismatch")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError("missing sub")
