"""What the API server's loop stands on: a poller of file descriptors and threads for the steps that block."""

from __future__ import annotations

import contextlib
import queue
import select
import selectors
import threading
from collections.abc import Callable
from typing import Any

READ, WRITE = 1, 2  # what a descriptor is watched for
THREAD_IDLE_SECONDS = 60  # a thread for blocking steps that had nothing to do this long ends


class Threads:
    """Daemon threads for the steps that block: an idle one takes the next job, a new one starts when none
    is idle (so a slow cold start never queues behind another), and one idle for a minute ends."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._work, name=self._name, daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=THREAD_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle == 0:  # a job was handed to this thread just now
                        continue
                    self._idle -= 1
                    return
            job()
            with self._lock:
                self._idle += 1


class Poller:
    """File descriptors -> callbacks: ``epoll`` where there is one (a change is one system call, a wake-up
    allocates no key objects), else ``selectors``. Registered objects have ``fileno()``."""

    def __init__(self) -> None:
        self._registered: dict[int, tuple[Any, Callable[[Any, int], None]]] = {}
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._selector = None if self._epoll is not None else selectors.DefaultSelector()

    @staticmethod
    def _epoll_events(events: int) -> int:
        return (select.EPOLLIN if events & READ else 0) | (select.EPOLLOUT if events & WRITE else 0)

    @staticmethod
    def _selector_events(events: int) -> int:
        return (selectors.EVENT_READ if events & READ else 0) | (selectors.EVENT_WRITE if events & WRITE else 0)

    def register(self, obj: Any, events: int, callback: Callable[[Any, int], None]) -> None:
        fd = obj.fileno()
        self._registered[fd] = (obj, callback)
        if self._epoll is not None:
            self._epoll.register(fd, self._epoll_events(events))
        else:
            assert self._selector is not None
            self._selector.register(fd, self._selector_events(events))

    @property
    def edge(self) -> bool:
        """Whether ``register_edge`` is there (epoll)."""
        return self._epoll is not None

    def register_edge(self, obj: Any, callback: Callable[[Any, int], None]) -> None:
        """Watch ``obj`` for new data, edge-triggered: one wake-up per arrival, and it is never unregistered
        (closing it ends the watch). Nothing to do when ``obj`` is watched already; replaces the entry of a
        closed object that had the same number."""
        assert self._epoll is not None
        fd = obj.fileno()
        known = self._registered.get(fd)
        if known is not None and known[0] is obj:
            return
        self._registered[fd] = (obj, callback)
        try:
            self._epoll.register(fd, select.EPOLLIN | select.EPOLLET)
        except FileExistsError:
            self._epoll.modify(fd, select.EPOLLIN | select.EPOLLET)

    def modify(self, obj: Any, events: int) -> None:
        if self._epoll is not None:
            self._epoll.modify(obj.fileno(), self._epoll_events(events))
        else:
            assert self._selector is not None
            self._selector.modify(obj.fileno(), self._selector_events(events))

    def unregister(self, obj: Any, fd: int | None = None) -> None:
        """Stop watching ``obj`` (``fd``: its number when it may be closed already, which ended the watch)."""
        fd = obj.fileno() if fd is None else fd
        self._registered.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            if self._epoll is not None:
                self._epoll.unregister(fd)
            else:
                assert self._selector is not None
                self._selector.unregister(fd)

    def poll(self, timeout: float) -> list[tuple[Any, Callable[[Any, int], None], int]]:
        """(object, callback, READ/WRITE bits) of each ready descriptor."""
        ready: list[tuple[Any, Callable[[Any, int], None], int]] = []
        if self._epoll is not None:
            for fd, events in self._epoll.poll(timeout):
                entry = self._registered.get(fd)
                if entry is not None:  # errors and hang-ups count as readable: the read finds them
                    ready.append((entry[0], entry[1], (READ if events & ~select.EPOLLOUT else 0)
                                  | (WRITE if events & select.EPOLLOUT else 0)))
        else:
            assert self._selector is not None
            for key, mask in self._selector.select(timeout):
                entry = self._registered.get(key.fd)
                if entry is not None:
                    ready.append((entry[0], entry[1], (READ if mask & selectors.EVENT_READ else 0)
                                  | (WRITE if mask & selectors.EVENT_WRITE else 0)))
        return ready

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        elif self._selector is not None:
            self._selector.close()
