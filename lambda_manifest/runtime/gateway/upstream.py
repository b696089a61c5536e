"""HTTP/1.1 to the model providers, with a total deadline per attempt.

Why not ``http.client``: its ``timeout`` is a per-socket-operation timeout. An upstream that sends a byte every
half second never trips it, so an attempt could run for as long as the provider likes. Here every attempt has
one absolute deadline (``time.monotonic()``) that bounds the connect, the TLS handshake, the send and every read
together; each socket operation waits at most until that deadline.

Streams are read in ``tick`` slices: a read that sees no byte for ``tick`` seconds yields ``None`` (the caller
sends a keep-alive comment to its own client) and continues, still bounded by the deadline.

Re-sending: a request is never written twice by this module. A kept-alive connection is checked before reuse
(a closed or readable idle socket is discarded, which catches the common "server closed the idle connection"
case before any byte is sent). A failure before the first byte of the request is written is ``connection``
(safe to retry); any failure after it is ``reset`` (the provider may have accepted, and billed, the request), and
the router does not retry a ``reset`` on the same target.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

MAX_IDLE_PER_HOST = 8
MAX_HEADER_BYTES = 64 * 1024
_RECV = 65536


class UpstreamError(Exception):
    """``kind``: ``connection`` (nothing was sent), ``reset`` (sent, then the connection failed) or ``timeout``
    (the deadline passed; ``sent`` says whether the request had been written)."""

    def __init__(self, kind: str, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.sent = sent


class _Conn:
    def __init__(self, key: tuple[str, str, int], sock: Any) -> None:
        self.key = key
        self.sock = sock
        self.buffer = b""
        self.reused = False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def alive(self) -> bool:
        """An idle kept-alive socket must have nothing to read: readable means closed by the peer (EOF/RST)
        or stray bytes, and either way it must not carry a new request."""
        try:
            if getattr(self.sock, "pending", None) and self.sock.pending():
                return False
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


class Pool:
    """Idle kept-alive connections per (scheme, host, port), per container."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._ssl_context: Any = None

    def take(self, key: tuple[str, str, int]) -> _Conn | None:
        while True:
            with self._lock:
                conns = self._idle.get(key)
                conn = conns.pop() if conns else None
            if conn is None:
                return None
            if conn.alive():
                conn.reused = True
                return conn
            conn.close()

    def give(self, conn: _Conn) -> None:
        with self._lock:
            conns = self._idle.setdefault(conn.key, [])
            if len(conns) < MAX_IDLE_PER_HOST:
                conns.append(conn)
                return
        conn.close()

    def connect(self, key: tuple[str, str, int], deadline: float) -> _Conn:
        scheme, host, port = key
        try:
            sock = socket.create_connection((host, port), timeout=_left(deadline, sent=False))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock.settimeout(_left(deadline, sent=False))
                sock = self._tls().wrap_socket(sock, server_hostname=host)
        except UpstreamError:
            raise
        except TimeoutError:
            raise UpstreamError("timeout", f"connect to {host}:{port} timed out") from None
        except OSError as exc:
            raise UpstreamError("connection", f"connect to {host}:{port} failed: {type(exc).__name__}") from None
        return _Conn(key, sock)

    def _tls(self) -> Any:
        if self._ssl_context is None:
            import ssl

            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def clear(self) -> None:
        with self._lock:
            for conns in self._idle.values():
                for c in conns:
                    c.close()
            self._idle.clear()


POOL = Pool()


def _left(deadline: float, *, sent: bool) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise UpstreamError("timeout", "deadline reached", sent=sent)
    return left


class Response:
    """Status and headers of an upstream answer; the body is read with ``read()`` or ``iter_lines()``."""

    def __init__(self, conn: _Conn, status: int, headers: dict[str, str], head_method: bool = False) -> None:
        self._conn = conn
        self.status = status
        self.headers = headers
        te = headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        self._length: int | None = None
        if not self._chunked and "content-length" in headers:
            try:
                self._length = max(0, int(headers["content-length"]))
            except ValueError:
                self._length = None
        if head_method or status in (204, 304) or 100 <= status < 200:
            self._length = 0
        self._keep = headers.get("connection", "").lower() != "close"
        self._done = False
        self._chunk_left = 0  # data bytes left in the current chunk (chunked encoding)
        self._need_crlf = False
        self._closed = False

    # -- raw body pieces ---------------------------------------------------------------------------------------
    def _recv(self, deadline: float, tick: float | None) -> bytes | None:
        """Up to 64 KiB from the socket; None when ``tick`` seconds pass without a byte (deadline not reached)."""
        left = _left(deadline, sent=True)
        wait = min(left, tick) if tick else left
        self._conn.sock.settimeout(wait)
        try:
            data: bytes = self._conn.sock.recv(_RECV)
        except TimeoutError:
            if tick and wait < left:
                return None
            raise UpstreamError("timeout", "deadline reached while reading the answer", sent=True) from None
        except OSError as exc:
            raise UpstreamError("reset", f"connection failed while reading: {type(exc).__name__}", sent=True) from None
        if not data:
            raise _Eof()
        return data

    def _fill(self, deadline: float, tick: float | None) -> bool:
        """Append to the buffer; False on a tick."""
        data = self._recv(deadline, tick)
        if data is None:
            return False
        self._conn.buffer += data
        return True

    def _line(self, deadline: float) -> bytes:
        while b"\r\n" not in self._conn.buffer:
            if len(self._conn.buffer) > MAX_HEADER_BYTES:
                raise UpstreamError("reset", "malformed chunked encoding", sent=True)
            self._fill(deadline, None)
        line, self._conn.buffer = self._conn.buffer.split(b"\r\n", 1)
        return line

    def pieces(self, deadline: float | Callable[[], float], tick: float | None = None) -> Iterator[bytes | None]:
        """The decoded body in pieces as they arrive; ``None`` after ``tick`` idle seconds. ``deadline`` may be a
        callable, read before every socket operation (a stream's deadline moves once output has started)."""
        current: Callable[[], float] = deadline if callable(deadline) else (lambda: float(deadline))
        try:
            while not self._done:
                dl = current()
                if self._chunked:
                    if self._chunk_left == 0:
                        if not self._conn.buffer and not self._fill(dl, tick):
                            yield None
                            continue
                        if self._need_crlf:  # the CRLF that ends the previous chunk's data
                            self._line(dl)
                            self._need_crlf = False
                            continue
                        size_line = self._line(dl)
                        try:
                            size = int(size_line.split(b";")[0].strip() or b"x", 16)
                        except ValueError:
                            raise UpstreamError("reset", "malformed chunked encoding", sent=True) from None
                        if size == 0:
                            while self._line(dl):  # trailers, then the empty line
                                pass
                            self._done = True
                            break
                        self._chunk_left = size
                        continue
                    if not self._conn.buffer and not self._fill(dl, tick):
                        yield None
                        continue
                    take = self._conn.buffer[: self._chunk_left]
                    self._conn.buffer = self._conn.buffer[len(take):]
                    self._chunk_left -= len(take)
                    self._need_crlf = self._chunk_left == 0
                    yield take
                elif self._length is not None:
                    if self._length == 0:
                        self._done = True
                        break
                    if not self._conn.buffer and not self._fill(dl, tick):
                        yield None
                        continue
                    take = self._conn.buffer[: self._length]
                    self._conn.buffer = self._conn.buffer[len(take):]
                    self._length -= len(take)
                    yield take
                else:  # until the server closes
                    self._keep = False
                    if self._conn.buffer:
                        data, self._conn.buffer = self._conn.buffer, b""
                        yield data
                        continue
                    try:
                        if not self._fill(dl, tick):
                            yield None
                            continue
                    except _Eof:
                        self._done = True
                        break
        except _Eof:
            raise UpstreamError("reset", "the provider closed the connection mid-answer", sent=True) from None
        if self._done:
            self.close(reuse=True)

    def read(self, deadline: float, limit: int = 32 * 1024 * 1024) -> bytes:
        parts: list[bytes] = []
        size = 0
        for piece in self.pieces(deadline):
            if piece:
                parts.append(piece)
                size += len(piece)
                if size > limit:
                    self.close(reuse=False)
                    raise UpstreamError("reset", f"answer larger than {limit} bytes", sent=True)
        return b"".join(parts)

    def iter_lines(
        self, deadline: float | Callable[[], float], tick: float | None = None
    ) -> Iterator[bytes | None]:
        """Body lines without their ``\\n`` or ``\\r\\n`` ending (server-sent events framing); ``None`` after
        ``tick`` idle seconds; a last unterminated line at the end."""
        pending = b""
        for piece in self.pieces(deadline, tick):
            if piece is None:
                yield None
                continue
            pending += piece
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line[:-1] if line.endswith(b"\r") else line
        if pending:
            yield pending

    def close(self, *, reuse: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if reuse and self._done and self._keep and not self._conn.buffer:
            POOL.give(self._conn)
        else:
            self._conn.close()


class _Eof(Exception):
    pass


def request(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    deadline: float,
    *,
    pool: Pool | None = None,
) -> Response:
    """Send one request and read the status line and headers, all before ``deadline`` (monotonic)."""
    from urllib.parse import urlsplit

    pool = pool or POOL
    u = urlsplit(url)
    scheme = u.scheme or "http"
    host = u.hostname or ""
    port = u.port or (443 if scheme == "https" else 80)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    key = (scheme, host, port)
    conn = pool.take(key) or pool.connect(key, deadline)
    host_header = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
    lines = [f"{method} {target} HTTP/1.1", f"host: {host_header}", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
    try:
        conn.sock.settimeout(_left(deadline, sent=False))
        conn.sock.sendall(data)
    except UpstreamError:
        conn.close()
        raise
    except TimeoutError:
        conn.close()
        raise UpstreamError("timeout", "deadline reached while sending", sent=True) from None
    except OSError as exc:
        conn.close()
        # Bytes may have left: the provider could have the whole request. Never sent again.
        raise UpstreamError("reset", f"connection failed while sending: {type(exc).__name__}", sent=True) from None
    try:
        return _read_head(conn, deadline, method == "HEAD")
    except BaseException:
        conn.close()
        raise


def _read_head(conn: _Conn, deadline: float, head_method: bool) -> Response:
    while True:
        while b"\r\n\r\n" not in conn.buffer:
            if len(conn.buffer) > MAX_HEADER_BYTES:
                raise UpstreamError("reset", "response headers too large", sent=True)
            conn.sock.settimeout(_left(deadline, sent=True))
            try:
                data = conn.sock.recv(_RECV)
            except TimeoutError:
                raise UpstreamError("timeout", "deadline reached waiting for the answer", sent=True) from None
            except OSError as exc:
                raise UpstreamError("reset", f"connection failed: {type(exc).__name__}", sent=True) from None
            if not data:
                raise UpstreamError("reset", "the provider closed the connection without answering", sent=True)
            conn.buffer += data
        head, conn.buffer = conn.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            raise UpstreamError("reset", f"malformed status line {lines[0][:60]!r}", sent=True) from None
        if status == 100:  # Continue: the real answer follows
            continue
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        return Response(conn, status, headers, head_method)
