"""Lambda functions run locally: one worker *process* per concurrent execution environment.

Why processes and not threads: each function needs its own ``os.environ`` (two functions read the same
variable name with different values), its own ``sys.modules`` (two functions may both have ``handler.py``),
and a timeout that can really stop the code (Python cannot kill a thread). A worker process gives all
three: the runner kills it at the deadline, exactly like Lambda tears down a timed-out environment, and the
next invocation is a cold start.

A worker stays alive between invocations, so module state persists ("warm"). When a file in the
function's code folder changes, the function's generation is bumped: idle workers are stopped and busy ones
retire after their current invocation, so the next invocation imports the new code ("cold start").

Why this module is longer than 500 lines: the worker processes, their interpreters and the host that pools
them share one protocol (messages, deadlines, kills, generations); the runner-side half of that protocol is
here, the process-side half in ``_bootstrap``, and splitting this half would put the pool and the workers it
manages in different modules.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lambda_manifest.local.cfn import REGION
from lambda_manifest.local.ids import trace_id, uuid4_text
from lambda_manifest.local.interpreters import Interpreter, bytecode_flags, interpreter_for
from lambda_manifest.local.logs import Console, OutputTail, pump_output

BOOTSTRAP = Path(__file__).with_name("_bootstrap.py")
INIT_TIMEOUT_SECONDS = 10.0
# Read by _bootstrap.py (and removed from the handler's environment): extra sys.path entries after the code
# folder (the function's layers), and whether SDK logging stays on.
LAYER_PATHS_VARIABLE = "LM_LOCAL_LAYER_PATHS"
VERBOSE_VARIABLE = "LM_LOCAL_VERBOSE"
# Invocations go to a worker in marshal's format 4, each after its length (4 bytes, little-endian): it takes
# about a quarter of JSON's time to write and half to read, and every Python since 3.4 reads it, whatever
# the worker's version. Events are built only of JSON's types (dict, list, str, int, float, bool, None),
# which it carries unchanged. Answers come back as JSON lines: the handler's result must be JSON anyway.
MARSHAL_VERSION = 4
_decode = json.JSONDecoder().decode
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


@dataclass
class FunctionSpec:
    """A function as the template defines it, with its environment already resolved to local values."""

    stack: str
    logical_id: str
    label: str
    name: str
    arn: str
    handler: str
    runtime: str
    code_dir: Path
    environment: dict[str, str]
    timeout: float = 3.0
    memory: int = 128
    reserved_concurrency: int | None = None
    log_format: str = "Text"
    log_level: str = "INFO"
    system_log_level: str = "INFO"
    # Layers given by ARN (Powertools): their packages come from the venv's site-packages.
    layers: list[str] = field(default_factory=list)
    asset_dir: Path | None = None
    # Folders of the template's own layers (``AWS::Lambda::LayerVersion`` with a local asset), in the order
    # they go on sys.path right after the code folder, as /opt/python does in Lambda.
    layer_paths: list[Path] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        return self.runtime.startswith("python")


@dataclass
class Invocation:
    """The outcome of one synchronous invocation."""

    request_id: str
    payload: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    caller_timed_out: bool = False
    duration_ms: float = 0.0
    init_ms: float | None = None
    streamed: bool = False  # answered in the Runtime API's streaming mode

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out and not self.caller_timed_out

    @property
    def function_error(self) -> str | None:
        """``Unhandled`` for errors the handler raised or the runtime reported, as Lambda's header says."""
        return None if self.ok else "Unhandled"


class WorkerDied(RuntimeError):
    pass


@dataclass
class Pending:
    """An invocation sent to a warm environment, its answer not read yet (``FunctionHost.begin``)."""

    host: FunctionHost
    worker: _Worker
    result: Invocation
    started: float  # monotonic, when the message was sent
    function_deadline: float
    caller_deadline: float | None

    @property
    def deadline(self) -> float:
        return earliest(self.function_deadline, self.caller_deadline)


def earliest(function_deadline: float, caller_deadline: float | None) -> float:
    """When to stop waiting for an answer: the function's timeout, or the caller's when that comes first."""
    return min(function_deadline, caller_deadline) if caller_deadline else function_deadline


class ExecutionEnvironment(Protocol):
    """What the pool needs of an execution environment (``_Worker``, or ``runtime_api.RuntimeWorker`` for a
    function started through its exec wrapper)."""

    generation: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int: ...

    def send(self, message: dict[str, Any]) -> None: ...

    def receive(self, deadline: float) -> dict[str, Any] | None: ...

    def stop(self, *, kill: bool = False) -> None: ...

    def output_tail(self) -> str: ...


class _Worker:
    """One execution environment: a ``_bootstrap.py`` process, a pipe for its requests and a socket for its
    answers."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], generation: int, console: Console,
                 source: str, executable: str = sys.executable) -> None:
        self.generation = generation
        self.invocations = 0
        request_read, self._request_write = os.pipe()
        # Answers come back on a socket rather than a pipe: the kernel keeps the receive timeout
        # (SO_RCVTIMEO), so waiting for an answer is one system call, not a poll and then a read.
        self._answers, answers_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._timeout = -1.0  # the receive timeout set on ``_answers`` (seconds); -1: none yet
        response_write = answers_child.fileno()
        try:
            self.process = subprocess.Popen(
                [executable, "-I", *bytecode_flags(), "-u", str(BOOTSTRAP), str(request_read), str(response_write)],
                pass_fds=(request_read, response_write),
                env=env,
                cwd=str(spec.code_dir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the runner only; the runner stops its workers
            )
        finally:
            os.close(request_read)
            answers_child.close()
        self._buffer = b""
        self._stopped = False
        self._stop_lock = threading.Lock()
        self.tail = OutputTail(12)
        self._pump = threading.Thread(target=pump_output, args=(self.process.stdout, self.tail, console, source),
                                      name=f"log-{source}", daemon=True)
        self._pump.start()

    def output_tail(self) -> str:
        """The last lines of output, once the process has exited and its output is read to the end."""
        if self.process.poll() is not None:
            self._pump.join(timeout=2)  # a handler's own subprocess may still hold the pipe open
        return self.tail.text()

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: dict[str, Any]) -> None:
        body = marshal.dumps(message, MARSHAL_VERSION)
        data = len(body).to_bytes(4, "little") + body
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._request_write, view):]
        except OSError as exc:
            raise WorkerDied(str(exc)) from exc

    def receive(self, deadline: float) -> dict[str, Any] | None:
        """The next message, or None when ``deadline`` (monotonic) passes first."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                if self._timeout > remaining or self._timeout < 0:
                    self._set_timeout(remaining)  # usually once: each invocation waits about as long
                chunk = self._answers.recv(65536)  # more than 128 KiB: an mmap per read
            except BlockingIOError:  # the receive timeout passed: the deadline, or an earlier, shorter one
                self._timeout = -1.0  # set again to what remains
                continue
            except (OSError, ValueError) as exc:  # the runner stopped this worker meanwhile
                raise WorkerDied(f"stopped: {exc}") from exc
            if not chunk:
                raise WorkerDied(f"exit status {self.process.wait()}")
            self._buffer += chunk
        return self._take_message()

    def _take_message(self) -> dict[str, Any]:
        """The first line of the buffer (there is one), decoded: a str, so no encoding detection per message."""
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = _decode(line.decode())
        return message

    @property
    def answers(self) -> socket.socket:
        """The socket its answers arrive on (the API server's loop waits for it among its connections)."""
        return self._answers

    def poll(self) -> dict[str, Any] | None:
        """The answer, read without waiting: None while it is incomplete (or not there yet). Reads all that
        has arrived (a caller woken edge-triggered gets no second wake-up for it). Raises ``WorkerDied``
        without a status when the process closed its end (``exited()`` waits for one)."""
        while b"\n" not in self._buffer:
            try:
                chunk = self._answers.recv(65536, _DONTWAIT)
            except BlockingIOError:
                return None
            except (OSError, ValueError) as exc:
                raise WorkerDied(f"stopped: {exc}") from exc
            if not chunk:
                raise WorkerDied("")
            self._buffer += chunk
        return self._take_message()

    def exited(self) -> WorkerDied:
        return WorkerDied(f"exit status {self.process.wait()}")

    def _set_timeout(self, seconds: float) -> None:
        """Set the receive timeout to at most ``seconds`` (and at least a microsecond: zero means none)."""
        micros = max(1, int(seconds * 1_000_000))
        self._answers.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", *divmod(micros, 1_000_000)))
        self._timeout = micros / 1_000_000

    def stop(self, *, kill: bool = False) -> None:
        with self._stop_lock:  # fds are closed exactly once: a second close could hit a reused number
            if self._stopped:
                return
            self._stopped = True
        with contextlib.suppress(OSError):
            os.close(self._request_write)  # EOF: the worker's loop ends and it exits by itself
        if kill:
            self._kill()
        else:
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._kill()
        with contextlib.suppress(OSError):
            self._answers.close()
        self._pump.join(timeout=2)

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the handler's own subprocesses too
        self.process.wait()


class FunctionHost:
    """Runs one function: a pool of warm workers, grown on demand up to ``max_concurrency``."""

    def __init__(self, spec: FunctionSpec, *, console: Console, endpoint_url: str,
                 max_concurrency: int = 10, lambda_endpoint_url: str | None = None, verbose: bool = False) -> None:
        self.spec = spec
        self.console = console
        self.verbose = verbose
        # The declared runtime's Python when there is one (python3.14 code runs on 3.14, as in Lambda).
        self.interpreter = interpreter_for(spec.runtime) if spec.supported else Interpreter(sys.executable, "")
        self.endpoint_url = endpoint_url
        self.lambda_endpoint_url = lambda_endpoint_url
        limit = spec.reserved_concurrency if spec.reserved_concurrency else max_concurrency
        self.max_concurrency = max(1, min(limit, max_concurrency))
        self.generation = 0
        self.invocations = 0
        self.cold_starts = 0
        self._idle: list[ExecutionEnvironment] = []
        self._busy: set[ExecutionEnvironment] = set()
        self._starting = 0
        self._waiters = 0  # callers of ``invoke`` waiting for an environment to become free
        self._cond = threading.Condition()
        self._closed = False
        self._sequence = 0

    # -- environment ------------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """The worker's whole environment: Lambda's reserved variables, the template's, local AWS."""
        spec = self.spec
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "HOME": os.environ.get("HOME", "/tmp"),
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
            "AWS_LAMBDA_LOG_LEVEL": spec.log_level,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # Fake credentials, and no shared config: a handler can never reach a real account.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # X-Ray has no daemon here: Powertools Tracer and the X-Ray SDK are switched off.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_XRAY_SDK_ENABLED": "false",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
            "LM_LOCAL": "1",
        }
        if self.lambda_endpoint_url:
            env["AWS_ENDPOINT_URL_LAMBDA"] = self.lambda_endpoint_url
        env.update(spec.environment)
        if spec.layer_paths:
            env[LAYER_PATHS_VARIABLE] = os.pathsep.join(str(path) for path in spec.layer_paths)
        if self.verbose:
            env[VERBOSE_VARIABLE] = "1"
        return env

    # -- pool -------------------------------------------------------------------------------------------
    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in [*self._idle, *self._busy]]

    def invalidate(self) -> None:
        """The code changed: the next invocation starts a fresh environment."""
        with self._cond:
            self.generation += 1
            stale, self._idle = self._idle, []
        for worker in stale:
            worker.stop()

    def _acquire(self, deadline: float) -> ExecutionEnvironment | None:
        while True:
            with self._cond:
                worker = self._take(deadline)
            if worker is None:
                return None
            # A pipe worker's liveness shows when its message is written (``invoke``); others are asked, outside
            # the lock: the system call drops the GIL, and the other connections' threads would queue on the
            # pool's lock meanwhile.
            if isinstance(worker, _Worker) or worker.process.poll() is None:
                return worker
            self._discard(worker)

    def _discard(self, worker: ExecutionEnvironment) -> None:
        """A busy worker that exited by itself: stopped in the background; the next one, or a fresh one."""
        with self._cond:
            self._busy.discard(worker)
            self._cond.notify()
        threading.Thread(target=worker.stop, kwargs={"kill": True}, daemon=True).start()

    def _take(self, deadline: float) -> ExecutionEnvironment | None:
        """An idle worker of the current generation (marked busy), or None when the caller is to start one;
        called with the pool's lock held."""
        while True:
            if self._closed:
                raise WorkerDied("the runner is shutting down")
            worker = self._take_idle()
            if worker is not None:
                return worker
            if len(self._busy) + self._starting < self.max_concurrency:
                self._starting += 1
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no execution environment became free in time")
            self._waiters += 1
            try:
                self._cond.wait(remaining)
            finally:
                self._waiters -= 1

    def _take_idle(self) -> ExecutionEnvironment | None:
        """The most recently used idle worker of the current generation, marked busy (older generations'
        are stopped on the way); called with the pool's lock held."""
        while self._idle and not self._closed:
            worker = self._idle.pop()
            if worker.generation == self.generation:
                self._busy.add(worker)
                return worker
            threading.Thread(target=worker.stop, daemon=True).start()
        return None

    def _release(self, worker: ExecutionEnvironment, *, reuse: bool) -> None:
        with self._cond:
            self._busy.discard(worker)
            keep = reuse and not self._closed and worker.generation == self.generation
            if keep:
                self._idle.append(worker)
            self._cond.notify()
        if not keep:
            worker.stop(kill=not reuse)

    @property
    def wrapper(self) -> Path | None:
        """The local file of the function's ``AWS_LAMBDA_EXEC_WRAPPER``, when it has one."""
        from lambda_manifest.local.runtime_api import WRAPPER_VARIABLE, wrapper_path

        value = self.spec.environment.get(WRAPPER_VARIABLE)
        return wrapper_path(value, self.spec.code_dir, self.spec.layer_paths) if value else None

    @property
    def streams(self) -> bool:
        """Runs through an exec wrapper (its own runtime loop), so it can stream its answers."""
        return bool(self.spec.environment.get("AWS_LAMBDA_EXEC_WRAPPER"))

    def _new_worker(self) -> ExecutionEnvironment:
        if not self.streams:
            return _Worker(self.spec, self.environment(), self.generation, self.console, self.spec.label,
                           self.interpreter.executable)
        from lambda_manifest.local.runtime_api import RuntimeWorker

        wrapper = self.wrapper
        if wrapper is None or not os.access(wrapper, os.X_OK):
            raise WorkerDied(f"AWS_LAMBDA_EXEC_WRAPPER {self.spec.environment.get('AWS_LAMBDA_EXEC_WRAPPER')} is "
                             "not an executable file of the function's code or layers")
        env = {k: v for k, v in self.environment().items() if k not in (LAYER_PATHS_VARIABLE, VERBOSE_VARIABLE)}
        return RuntimeWorker(wrapper, env, self.generation, self.console, self.spec.label, self.spec.code_dir,
                             self.spec.layer_paths, self.interpreter.executable)

    def _spawn(self) -> tuple[ExecutionEnvironment, float | None, dict[str, Any] | None]:
        """Start a worker and wait for its init phase; returns (worker, init ms, init error)."""
        try:
            worker = self._new_worker()
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            self._busy.add(worker)
        self.cold_starts += 1
        try:
            ready = worker.receive(time.monotonic() + max(INIT_TIMEOUT_SECONDS, self.spec.timeout))
        except WorkerDied as exc:
            return worker, None, {"errorType": "Runtime.ExitError",
                                  "errorMessage": f"Runtime exited during init: {exc}; its last output:\n"
                                                  f"{worker.output_tail()}"}
        if ready is None:
            return worker, None, {"errorType": "Runtime.InitTimeout",
                                  "errorMessage": f"Init phase did not finish in {INIT_TIMEOUT_SECONDS:.0f} s; "
                                                  f"its last output:\n{worker.output_tail()}"}
        init_error = ready.get("init_error")
        return worker, float(ready.get("init_ms", 0.0)), init_error if isinstance(init_error, dict) else None

    # -- invoke -----------------------------------------------------------------------------------------
    def _message(self, event: Any, request_id: str, client_context: Any, qualifier_arn: str | None) -> dict[str, Any]:
        self._sequence += 1
        return {
            "id": self._sequence,
            "event": event,
            "request_id": request_id,
            "deadline_ms": int((time.time() + self.spec.timeout) * 1000),
            "invoked_function_arn": qualifier_arn or self.spec.arn,
            "client_context": client_context,
            "trace_id": f"Root={trace_id(time.time())};Sampled=0",
        }

    def begin(self, event: Any, *, caller_timeout: float | None = None,
              request_id: str | None = None) -> Pending | None:
        """Send an invocation to an idle warm environment without waiting for its answer, which the caller
        reads when the environment's socket is readable (``Pending.worker.poll``) and hands to ``conclude``.
        None, having done nothing, when there is no idle environment (or the function streams or is not
        Python): then ``invoke`` is the way, since it may have to start one or wait."""
        if not self.spec.supported or self.streams:
            return None
        while True:
            with self._cond:
                # Callers already waiting for an environment get the next free one: first come, first served.
                worker = self._take_idle() if not self._waiters else None
            if worker is None:
                return None
            if not isinstance(worker, _Worker):  # pragma: no cover - only non-streaming functions get here
                self._release(worker, reuse=True)
                return None
            request_id = request_id or uuid4_text()
            started = time.monotonic()
            message = self._message(event, request_id, None, None)
            try:
                worker.send(message)
            except WorkerDied:  # it exited while idle: another environment, as in ``invoke``
                self._discard(worker)
                continue
            self.invocations += 1
            return Pending(self, worker, Invocation(request_id=request_id), started, started + self.spec.timeout,
                           started + caller_timeout if caller_timeout else None)

    def conclude(self, pending: Pending, answer: dict[str, Any] | WorkerDied | None) -> Invocation:
        """The outcome of a ``begin``: its answer, the worker's death, or None when ``pending.deadline``
        passed. May wait for a killed process: not for the server's loop when ``answer`` is not a dict."""
        if isinstance(answer, WorkerDied) and not str(answer):
            answer = pending.worker.exited()
        return self._conclude(pending.worker, pending.result, pending.started, pending.function_deadline,
                              pending.caller_deadline, answer)

    def invoke(self, event: Any, *, caller_timeout: float | None = None, request_id: str | None = None,
               client_context: Any = None, qualifier_arn: str | None = None,
               sink: Callable[[bytes], None] | None = None) -> Invocation:
        """Invoke synchronously. ``caller_timeout`` is how long the caller waits (API Gateway's integration
        timeout); the function's own timeout is enforced separately and kills the environment. ``sink`` takes
        the pieces of a streamed answer as they arrive (a function that streams, invoked with response
        streaming); the ``Invocation`` then carries no payload."""
        request_id = request_id or uuid4_text()
        started = time.monotonic()
        caller_deadline = started + caller_timeout if caller_timeout else None
        result = Invocation(request_id=request_id)
        self.invocations += 1
        if not self.spec.supported:
            result.error = {"errorType": "Runtime.Unsupported",
                            "errorMessage": f"the local runner runs Python functions only, not {self.spec.runtime}"}
            return result
        wait_until = caller_deadline or started + max(self.spec.timeout, 60.0)
        while True:
            try:
                worker = self._acquire(wait_until)
            except (TimeoutError, WorkerDied) as exc:
                # Every environment stayed busy until the caller gave up (or the runner is stopping).
                result.caller_timed_out = isinstance(exc, TimeoutError)
                result.error = {"errorType": "TooManyRequestsException" if result.caller_timed_out
                                else "Runtime.Stopped", "errorMessage": str(exc)}
                self._log(result)
                return result
            warm = worker is not None
            if worker is None:
                worker, result.init_ms, init_error = self._spawn()
                if init_error is not None:
                    result.error = init_error
                    result.duration_ms = (time.monotonic() - started) * 1000
                    self._release(worker, reuse=False)
                    self._log(result)
                    return result
            invoke_started = time.monotonic()
            message = self._message(event, request_id, client_context, qualifier_arn)
            if sink is not None and self.streams:
                message["sink"] = sink
            if not warm or not isinstance(worker, _Worker):
                break
            try:
                worker.send(message)  # a warm worker's liveness is checked here, at no extra system call
                break
            except WorkerDied:
                # It exited while idle (its request pipe has no reader): the invocation goes to another
                # environment, as Lambda replaces an environment whose runtime exited.
                self._discard(worker)
        function_deadline = invoke_started + self.spec.timeout
        answer: dict[str, Any] | WorkerDied | None
        try:
            if not (warm and isinstance(worker, _Worker)):
                worker.send(message)
            answer = worker.receive(earliest(function_deadline, caller_deadline))
        except WorkerDied as exc:
            answer = exc
        return self._conclude(worker, result, invoke_started, function_deadline, caller_deadline, answer)

    def _conclude(self, worker: ExecutionEnvironment, result: Invocation, invoke_started: float,
                  function_deadline: float, caller_deadline: float | None,
                  answer: dict[str, Any] | WorkerDied | None) -> Invocation:
        """What an answer (or the worker's death, or None: no answer in time) means for the invocation and
        for the environment, which goes back to the pool or is stopped."""
        request_id = result.request_id
        if isinstance(answer, WorkerDied):
            result.error = {"errorType": "Runtime.ExitError",
                            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {answer}"}
            result.duration_ms = (time.monotonic() - invoke_started) * 1000
            self._release(worker, reuse=False)
            self._log(result)
            return result
        if answer is None:
            if caller_deadline and caller_deadline < function_deadline and time.monotonic() < function_deadline:
                # The caller gave up (API Gateway's integration timeout); the function keeps running.
                result.caller_timed_out = True
                result.duration_ms = (time.monotonic() - invoke_started) * 1000
                threading.Thread(target=self._finish_in_background,
                                 args=(worker, function_deadline, request_id), daemon=True).start()
                self._log(result)
                return result
            result.timed_out = True
            result.error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {self.spec.timeout:.2f} seconds",
            }
            result.duration_ms = self.spec.timeout * 1000
            self._release(worker, reuse=False)
            self._log(result)
            return result
        result.duration_ms = (time.monotonic() - invoke_started) * 1000
        self._complete(result, answer)
        self._release(worker, reuse=answer.get("ok", False) or worker.process.poll() is None)
        self._log(result)
        return result

    def _finish_in_background(self, worker: ExecutionEnvironment, deadline: float, request_id: str) -> None:
        try:
            response = worker.receive(deadline)
        except WorkerDied:
            self._release(worker, reuse=False)
            return
        if response is None:
            self.console.line(self.spec.label, f"{request_id[:8]} Task timed out after {self.spec.timeout:.2f} seconds")
            self._release(worker, reuse=False)
        else:
            self._release(worker, reuse=worker.process.poll() is None)

    @staticmethod
    def _complete(result: Invocation, response: dict[str, Any]) -> None:
        result.streamed = bool(response.get("streamed"))
        if response.get("ok") and result.streamed:
            result.payload = response.get("payload")  # the raw bytes, for a caller that did not stream
        elif response.get("ok") and "result" in response:
            result.payload = response["result"]  # a worker's answer, decoded with its message
        elif response.get("ok"):
            result.payload = json.loads(response.get("payload") or "null")
        else:
            error = response.get("error")
            result.error = error if isinstance(error, dict) else {"errorMessage": str(error), "errorType": "Error"}

    def _log(self, result: Invocation) -> None:
        if self.console.quiet and not (result.error or result.caller_timed_out):
            return  # the summary of a successful invocation would not be shown
        parts = [f"{result.request_id[:8]}", f"{result.duration_ms:.0f} ms"]
        if result.init_ms is not None:
            parts.append(f"cold start (init {result.init_ms:.0f} ms)")
        if result.caller_timed_out:
            parts.append("caller timed out; the function keeps running")
        elif result.error:
            parts.append(f"{result.error.get('errorType', 'Error')}: {result.error.get('errorMessage', '')}")
        if result.error or result.caller_timed_out:
            self.console.line(self.spec.label, " ".join(parts))
        else:
            self.console.info(self.spec.label, " ".join(parts))

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle, self._busy = [], set()
            self._cond.notify_all()
        threads = [threading.Thread(target=w.stop, kwargs={"kill": True}) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
