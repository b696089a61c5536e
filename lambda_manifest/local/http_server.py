"""The local APIs' HTTP/1.1 server: one thread serves every connection of an API.

Why one thread: with a thread per connection, ten clients meant ten threads taking turns on the GIL at
every socket read and write, and the hand-offs (futex calls, wake-ups) cost the runner more CPU than the
emulation did. Here a selector loop reads requests, sends answers, and waits for the functions' answers
among them. An emulator is a generator (``steps``): an ``Invoke`` it yields is sent to an idle warm
execution environment and the loop goes on; the environment's answer resumes it. Whatever would hold the
loop (a cold start, a wait for a free environment, a call to moto, a streamed answer, an app that is a plain
function such as the Lambda API's) runs on a thread and comes back to the loop when done.

The bytes on the wire (parsing requests, encoding answers) are ``http_wire``; the poller and the threads
for blocking steps are ``loop``.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import inspect
import itertools
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambda_manifest.local.functions import Pending, WorkerDied
from lambda_manifest.local.gateway import Request, Response, StreamAborted
from lambda_manifest.local.http_wire import REASONS, BadRequest, Partial, encode, head_of, parse
from lambda_manifest.local.logs import Console
from lambda_manifest.local.loop import READ, WRITE, Poller, Threads
from lambda_manifest.local.steps import Blocking, Done, Invoke, Steps, advance

IDLE_SECONDS = 75  # idle keep-alive connections are closed, as API Gateway does after a while
# While a request is being answered, bytes the client sends ahead (pipelining) are read up to this much.
MAX_AHEAD_BYTES = 1 << 20

App = Callable[[Request], Any]  # returns a Response, or is a generator function (``Steps[Response]``)


def _send_waiting(sock: socket.socket, data: bytes) -> None:
    """Send all of ``data`` on a non-blocking socket from a thread: wait for room when the buffer is full."""
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view):]
        except BlockingIOError:
            if not select.select([], [sock], [], IDLE_SECONDS)[1]:
                raise TimeoutError("the client reads nothing") from None


@dataclass
class _Connection:
    sock: socket.socket
    address: str
    buffer: bytes = b""
    out: bytes = b""  # the rest of an answer the socket had no room for
    busy: bool = False  # a request is being answered
    eof: bool = False  # the client closed its sending side
    closing: bool = False  # close once ``out`` is sent
    continued: bool = False  # ``100 Continue`` sent for the request being read
    need: int = 0  # parse again once the buffer holds this much
    active: float = field(default_factory=time.monotonic)
    events: int = READ


@dataclass
class _Exchange:
    """One request on its way through the app."""

    connection: _Connection
    request: Request
    keep_alive: bool
    target: str
    started: float
    steps: Steps[Response] | None = None
    pending: Pending | None = None
    number: int = 0  # while ``pending``: its key among the server's waiting invocations
    fd: int = -1  # while ``pending``: the file descriptor its answer comes on
    status: int = 0


class ApiServer:
    """One API's listener on 127.0.0.1 (never any other interface), served by one thread."""

    def __init__(self, port: int, app: App, console: Console, label: str) -> None:
        self.console = console
        self.label = label
        self.app = app
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(("127.0.0.1", port))
            self._listener.listen(128)
        except OSError:
            self._listener.close()
            raise
        self._listener.setblocking(False)
        self.server_address = self._listener.getsockname()
        self._selector = Poller()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._calls: collections.deque[Callable[[], None]] = collections.deque()
        # Invocations waiting for their answer, by number, and a heap of their deadlines; an answered one's
        # entry stays in the heap until it comes up or the heap is rebuilt (it never holds the exchange).
        self._waiting: dict[int, _Exchange] = {}
        self._answering: dict[int, _Exchange] = {}  # a worker's answer socket (its fd) -> who waits on it
        self._deadlines: list[tuple[float, int]] = []
        self._sequence = itertools.count()
        self._connections: dict[int, _Connection] = {}
        self._threads = Threads(f"api-{label}-step")
        self._thread: threading.Thread | None = None
        self._running = False

    @property
    def app(self) -> App:
        return self._app

    @app.setter
    def app(self, app: App) -> None:
        self._app = app
        self._drives = inspect.isgeneratorfunction(app)  # steps run in the loop; a plain function on a thread

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    # -- the loop -----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._selector.register(self._listener, READ, self._accept)
        self._selector.register(self._wake_read, READ, self._woken)
        self._running = True
        self._thread = threading.Thread(target=self._serve, name=f"api-{self.label}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._running = False
            self._wake()
            self._thread.join(timeout=5)
        for connection in list(self._connections.values()):
            self._close(connection)
        self._selector.close()
        for sock in (self._listener, self._wake_read, self._wake_write):
            sock.close()

    def _serve(self) -> None:
        swept = time.monotonic()
        while self._running:
            now = time.monotonic()
            timeout = 1.0 if not self._deadlines else min(1.0, max(0.0, self._deadlines[0][0] - now))
            for obj, callback, mask in self._selector.poll(timeout):
                try:
                    callback(obj, mask)
                except Exception as exc:  # a bug here must not stop the API
                    self._report(exc)
            now = time.monotonic()
            while self._deadlines and self._deadlines[0][0] <= now:
                _, number = heapq.heappop(self._deadlines)
                exchange = self._waiting.get(number)
                if exchange is not None:  # not answered yet: no answer in time
                    try:
                        self._settle(exchange, None)
                    except Exception as exc:
                        self._report(exc)
            if now - swept >= 1.0:
                swept = now
                for connection in list(self._connections.values()):
                    if not connection.busy and now - connection.active > IDLE_SECONDS:
                        self._close(connection)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError: already woken (its buffer is full)
            self._wake_write.send(b"\0")

    def _woken(self, sock: Any, _mask: int) -> None:
        try:
            while sock.recv(4096):
                pass
        except BlockingIOError:
            pass
        while self._calls:
            self._calls.popleft()()

    def _in_loop(self, call: Callable[[], None]) -> None:
        """Run ``call`` in the loop's thread (from another thread)."""
        self._calls.append(call)
        self._wake()

    # -- connections ----------------------------------------------------------------------------------------
    def _accept(self, listener: Any, _mask: int) -> None:
        while True:
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of file descriptors, or the client gave up already
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small writes: no delayed-ACK stall
            connection = _Connection(sock, address[0])
            self._connections[sock.fileno()] = connection
            self._selector.register(sock, READ, self._readable)

    def _readable(self, sock: Any, mask: int) -> None:
        connection = self._connections.get(sock.fileno())
        if connection is None:
            return
        if mask & WRITE:
            self._flush(connection)
            if connection.sock.fileno() < 0 or not mask & READ:
                return
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(connection)
            return
        connection.active = time.monotonic()
        if chunk:
            connection.buffer += chunk
            if connection.busy and len(connection.buffer) > MAX_AHEAD_BYTES:
                self._watch(connection, connection.events & ~READ)  # read on when answered
        else:
            connection.eof = True
            self._watch(connection, connection.events & ~READ)
        if not connection.busy and (connection.eof or len(connection.buffer) >= connection.need):
            self._next(connection)

    def _watch(self, connection: _Connection, events: int) -> None:
        if events == connection.events:
            return
        if connection.events and events:
            self._selector.modify(connection.sock, events)
        elif events:
            self._selector.register(connection.sock, events, self._readable)
        else:
            self._selector.unregister(connection.sock)
        connection.events = events

    def _close(self, connection: _Connection) -> None:
        if self._connections.pop(connection.sock.fileno(), None) is None:
            return
        if connection.events:
            self._selector.unregister(connection.sock)
            connection.events = 0
        connection.sock.close()

    def _next(self, connection: _Connection) -> None:
        """Answer the next request in the connection's buffer, if all of it is there."""
        if connection.closing:
            return
        if not connection.eof and not connection.events & READ:
            self._watch(connection, connection.events | READ)  # stopped while ahead
        try:
            parsed = parse(connection.buffer) if connection.buffer else Partial()
        except BadRequest as exc:
            self._answer_error(connection, exc.status)
            return
        if isinstance(parsed, Partial):
            connection.need = parsed.need
            if connection.eof:  # the client stopped sending midway (or between requests: a plain close)
                if connection.buffer.strip(b"\r\n"):
                    self._answer_error(connection, 400)
                else:
                    self._close(connection)
            elif parsed.continue_ and not connection.continued:
                connection.continued = True
                self._send(connection, b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        connection.buffer = connection.buffer[parsed.size:]
        connection.continued = False
        connection.need = 0
        connection.busy = True
        target = parsed.target
        if target.startswith("//"):  # as http.server: never read as a scheme-relative URL
            target = "/" + target.lstrip("/")
        path, _, query = target.partition("?")
        request = Request(parsed.method.upper(), path, query, parsed.headers, parsed.body, connection.address,
                          parsed.version)
        exchange = _Exchange(connection, request, parsed.keep_alive, target, time.monotonic())
        if self._drives:
            try:
                exchange.steps = self._app(request)
            except Exception as exc:
                self._finish(exchange, self._emulator_error(exc))
                return
            self._advance(exchange, None)
        else:
            self._on_thread(exchange, lambda: self._app(request), self._answered)

    def _answer_error(self, connection: _Connection, status: int) -> None:
        connection.busy = True
        self._send(connection, encode(Response.message(status, REASONS[status]), "GET", close=True))
        connection.closing = True
        self._flush(connection)

    # -- the app's steps ----------------------------------------------------------------------------------
    def _advance(self, exchange: _Exchange, value: Any, error: BaseException | None = None) -> None:
        assert exchange.steps is not None
        try:
            step = advance(exchange.steps, value, error)
        except Exception as exc:
            self._finish(exchange, self._emulator_error(exc))
            return
        if isinstance(step, Done):
            self._finish(exchange, step.result)
            return
        if isinstance(step, Invoke):
            pending = step.host.begin(step.event, caller_timeout=step.caller_timeout, request_id=step.request_id)
            if pending is not None:
                self._wait(exchange, pending)
                return
        assert isinstance(step, (Invoke, Blocking))
        self._on_thread(exchange, step.run, self._advance)

    def _on_thread(self, exchange: _Exchange, call: Callable[[], Any],
                   then: Callable[[_Exchange, Any, BaseException | None], None]) -> None:
        def work() -> None:
            try:
                value, error = call(), None
            except Exception as exc:
                value, error = None, exc
            self._in_loop(lambda: then(exchange, value, error))

        self._threads.submit(work)

    def _wait(self, exchange: _Exchange, pending: Pending) -> None:
        exchange.pending, exchange.number = pending, next(self._sequence)
        self._waiting[exchange.number] = exchange
        if len(self._deadlines) > 64 + 2 * len(self._waiting):  # mostly answered ones: keep the heap small
            self._deadlines = [(e.pending.deadline, n) for n, e in self._waiting.items() if e.pending is not None]
            heapq.heapify(self._deadlines)
        else:
            heapq.heappush(self._deadlines, (pending.deadline, exchange.number))
        answers = pending.worker.answers
        exchange.fd = answers.fileno()  # kept: a socket closed meanwhile (the runner stopping) has none
        self._answering[exchange.fd] = exchange
        if self._selector.edge:
            # Watched from its first invocation here on, never unregistered: edge-triggered, so an answer
            # that belongs to an invocation on another thread only wakes the loop once, and is ignored.
            self._selector.register_edge(answers, self._answer_arrived)
        else:
            self._selector.register(answers, READ, self._answer_arrived)

    def _unwait(self, exchange: _Exchange) -> Pending:
        pending = exchange.pending
        assert pending is not None
        exchange.pending = None
        del self._waiting[exchange.number]
        del self._answering[exchange.fd]
        if not self._selector.edge:
            self._selector.unregister(pending.worker.answers, exchange.fd)
        return pending

    def _answer_arrived(self, answers: Any, _mask: int) -> None:
        exchange = self._answering.get(answers.fileno())  # -1 (none) once closed
        if exchange is None:  # an answer to an invocation made on another thread
            return
        pending = exchange.pending
        assert pending is not None
        try:
            answer = pending.worker.poll()
        except WorkerDied as exc:
            self._settle(exchange, exc)
            return
        if answer is not None:
            self._unwait(exchange)
            self._advance(exchange, pending.host.conclude(pending, answer))

    def _settle(self, exchange: _Exchange, answer: WorkerDied | None) -> None:
        """No answer (the deadline passed, or the worker died): concluded on a thread, since that may wait
        for the environment's process to end."""
        pending = self._unwait(exchange)
        self._on_thread(exchange, lambda: pending.host.conclude(pending, answer), self._advance)

    def _answered(self, exchange: _Exchange, response: Any, error: BaseException | None = None) -> None:
        if error is not None:
            response = self._emulator_error(error)
        self._finish(exchange, response)

    def _report(self, exc: BaseException) -> None:
        self.console.line(self.label, f"emulator error: {type(exc).__name__}: {exc}")

    def _emulator_error(self, exc: BaseException) -> Response:
        """A bug in the emulator is a 500, never a dropped connection."""
        self._report(exc)
        return Response.message(500, "Internal Server Error")

    # -- answers --------------------------------------------------------------------------------------------
    def _finish(self, exchange: _Exchange, response: Response) -> None:
        connection, request = exchange.connection, exchange.request
        if connection.sock.fileno() < 0:  # closed meanwhile (the runner is stopping)
            return
        exchange.status = response.status
        if response.stream is not None:
            self._on_thread(exchange, lambda: self._send_stream(connection, response), self._streamed)
            return
        self._send(connection, encode(response, request.method, close=not exchange.keep_alive))
        self._log(exchange, response.status)
        if not exchange.keep_alive:
            connection.closing = True
            self._flush(connection)
            return
        connection.busy = False
        if not connection.out:
            self._next(connection)

    def _streamed(self, exchange: _Exchange, completed: Any, _error: BaseException | None) -> None:
        self._log(exchange, exchange.status)
        connection = exchange.connection
        if not (completed and exchange.keep_alive):
            self._close(connection)
            return
        connection.busy = False
        self._next(connection)

    def _send_stream(self, connection: _Connection, response: Response) -> bool:
        """Each piece as one chunk, sent at once; a failure midway cuts the connection without the last chunk,
        so the client sees an incomplete response. True when the response completed."""
        assert response.stream is not None
        parts = head_of(response)
        parts.append("Transfer-Encoding: chunked\r\n\r\n")
        try:
            _send_waiting(connection.sock, "".join(parts).encode("iso-8859-1", "replace"))
            for piece in response.stream:
                if piece:
                    _send_waiting(connection.sock, b"%X\r\n" % len(piece) + piece + b"\r\n")
            _send_waiting(connection.sock, b"0\r\n\r\n")
            return True
        except (StreamAborted, OSError):  # the function failed midway, or the client went away
            return False
        finally:
            close = getattr(response.stream, "close", None)
            if callable(close):
                close()

    def _send(self, connection: _Connection, data: bytes) -> None:
        if connection.out:
            connection.out += data
            return
        try:
            sent = connection.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(connection)
            return
        if sent < len(data):
            connection.out = data[sent:]
            self._watch(connection, connection.events | WRITE)

    def _flush(self, connection: _Connection) -> None:
        """Send what is left of an answer; close when asked to; read on when done."""
        if connection.out:
            try:
                sent = connection.sock.send(connection.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close(connection)
                return
            connection.out = connection.out[sent:]
            if connection.out:
                return
            self._watch(connection, connection.events & ~WRITE)
        if connection.closing:
            self._close(connection)
        elif not connection.busy:
            self._next(connection)

    def _log(self, exchange: _Exchange, status: int) -> None:
        if not self.console.quiet:
            elapsed = (time.monotonic() - exchange.started) * 1000
            self.console.info(self.label, f"{exchange.request.method} {exchange.target} {status} {elapsed:.0f} ms")
