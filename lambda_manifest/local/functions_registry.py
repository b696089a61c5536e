"""Find the local function behind an ARN, an alias ARN, a name, or an API Gateway integration URI."""

from __future__ import annotations

import re

from lambda_manifest.local.functions import FunctionHost

# Buffered (2015-03-31 .../invocations) and streaming (2021-11-15 .../response-streaming-invocations) integrations.
_INVOCATIONS = re.compile(r"functions/(.+?)/(?:response-streaming-)?invocations")


class FunctionRegistry:
    def __init__(self, hosts: list[FunctionHost]) -> None:
        self.hosts = hosts
        self._by_key: dict[str, FunctionHost] = {}
        for host in hosts:
            self._by_key[host.spec.arn] = host
            self._by_key[host.spec.name] = host

    def lookup(self, reference: str) -> FunctionHost | None:
        """``reference``: a function ARN (optionally qualified by alias or version), its name, or an
        ``arn:aws:apigateway:...:lambda:path/2015-03-31/functions/<arn>/invocations`` URI."""
        if not reference:
            return None
        match = _INVOCATIONS.search(reference)
        if match:
            reference = match.group(1)
        if reference in self._by_key:
            return self._by_key[reference]
        parts = reference.split(":")
        if len(parts) >= 7 and parts[2] == "lambda":
            base = ":".join(parts[:7])
            if base in self._by_key:
                return self._by_key[base]
            return self._by_key.get(parts[6])
        return None
