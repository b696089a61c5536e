"""Signing keys and a loopback JWKS endpoint for the authorizer tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from lambda_manifest.runtime.authorizer.jwt import public_jwk, sign_rs256


class RsaKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.private.private_numbers()
        self.n, self.e, self.d = numbers.public_numbers.n, numbers.public_numbers.e, numbers.d

    def jwk(self) -> dict[str, str]:
        return public_jwk(self.n, self.e, self.kid)

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return sign_rs256(claims, n=self.n, d=self.d, kid=self.kid, headers=headers or None)


class JwksServer:
    """A real HTTP server on 127.0.0.1 (ephemeral port) serving a mutable JWKS document."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
