"""An API request's handling as steps: the emulators are generators that *yield* what would block.

Why generators: the local APIs' HTTP server serves every connection from one thread (``http_server``), and
an emulator that called ``FunctionHost.invoke`` itself would hold that thread for the whole invocation. An
emulator instead yields ``Invoke(...)`` (or ``Blocking(...)`` for anything else that waits: a call to moto, a
streamed answer's prelude) and is resumed with the outcome. The server starts an invocation on an idle warm
environment and goes on serving other connections until the answer arrives; what it cannot start that way
(a cold start, a wait for a free environment) runs on a thread and resumes in the loop. ``run`` drives the
same generator to the end on the calling thread, for callers that can block (tests, other emulators).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from lambda_manifest.local.functions import FunctionHost, Invocation

T = TypeVar("T")


@dataclass
class Invoke:
    """A synchronous invocation, as API Gateway's Lambda integration (and a Lambda authorizer) makes it."""

    host: FunctionHost
    event: Any
    caller_timeout: float | None = None
    request_id: str | None = None

    def run(self) -> Invocation:
        return self.host.invoke(self.event, caller_timeout=self.caller_timeout, request_id=self.request_id)


@dataclass
class Blocking:
    """Any other call that waits; run on a thread, never in the server's loop."""

    call: Callable[[], Any]

    def run(self) -> Any:
        return self.call()


Step = Invoke | Blocking
Steps = Generator[Step, Any, T]


@dataclass
class Done(Generic[T]):
    """What ``advance`` gives when the steps have finished: their result."""

    result: T


def advance(steps: Steps[T], value: Any, error: BaseException | None = None) -> Step | Done[T]:
    """Resume ``steps`` with the last step's value (or raise its ``error`` inside them, where the emulator's
    own ``try`` sees it as it would see a direct call's): the next step, or ``Done``."""
    try:
        return steps.throw(error) if error is not None else steps.send(value)
    except StopIteration as done:
        return Done(done.value)


def run(steps: Steps[T]) -> T:
    """Drive ``steps`` to the end on this thread."""
    value: Any = None
    error: BaseException | None = None
    while not isinstance(step := advance(steps, value, error), Done):
        try:
            value, error = step.run(), None
        except Exception as exc:
            value, error = None, exc
    return step.result
