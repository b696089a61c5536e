"""Lambda entry point: ``lambda_manifest.runtime.authorizer.handler.main``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from .config import AuthConfig
from .core import Authorizer, build_response

logger = Logger()

_authorizer: Authorizer | None = None


def _log(level: str, message: str, **fields: Any) -> None:
    getattr(logger, level)(message, extra=fields)


def authorizer() -> Authorizer:
    """The container's authorizer, built from the environment on first use (so caches survive warm starts)."""
    global _authorizer
    if _authorizer is None:
        _authorizer = Authorizer(AuthConfig.from_env(), log=_log)
    return _authorizer


def reset() -> None:
    """Forget the cached configuration and keys (tests change the environment between cases)."""
    global _authorizer
    _authorizer = None


# log_event=False overrides POWERTOOLS_LOGGER_LOG_EVENT: the event holds the bearer token or API key.
@logger.inject_lambda_context(clear_state=True, log_event=False)
def main(event: Any, context: Any) -> dict[str, Any]:
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    request_id = request_context.get("requestId") if isinstance(request_context, dict) else None
    if isinstance(request_id, str):
        logger.append_keys(request_id=request_id)
    decision = authorizer().decide(event)
    logger.info(
        "authorization decision",
        extra={
            "decision": "allow" if decision.allow else "deny",
            "reason": decision.reason,
            "credential": decision.credential,
            "fingerprint": decision.fingerprint,
            "sub": decision.sub or None,
            "tenant": decision.tenant or None,
        },
    )
    return build_response(event, decision)
