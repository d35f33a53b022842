"""gunicorn around the Flask app: the model is loaded once in the master, before workers fork."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import logging
import mmap
import os
import re
import resource
import select
import selectors
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

from flask import Flask
from gunicorn import glogging
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers import gthread
from gunicorn.workers.gthread import TConn, ThreadWorker
from threadpoolctl import threadpool_limits

from delaycast.errors import ConfigError
from serve.logs import gunicorn_logging
from serve.settings import ServerSettings

log = logging.getLogger("delaycast.serve")
# Where gunicorn may keep its workers' heartbeat files: /tmp, else /dev/shm (a tmpfs even in a read-only container).
HEARTBEAT_DIRS = ("/tmp", "/dev/shm")
# A new connection that sends nothing holds a request thread this long before it waits in the poller (gunicorn's
# default, 5 s, let 16 silent connections take every thread of 4 workers: /ping timed out).
gthread.DEFAULT_WORKER_DATA_TIMEOUT = 0.25
# A whole GET /ping head, as the first bytes waiting on a connection: answered by the worker's main thread.
PING_HEAD = re.compile(rb"GET /ping(\?[^ ]*)? HTTP/1\.[01]\r\n([^\r\n]*\r\n)*\r\n")
PEEK_BYTES = 4096


def limit_native_threads() -> None:
    """One OpenMP/BLAS thread per worker: workers sharing cores must not oversubscribe them."""
    threadpool_limits(limits=1)


def heartbeat_dir(candidates: Sequence[str] = HEARTBEAT_DIRS) -> str:
    """The first directory where a heartbeat file can be made as gunicorn makes it (mkstemp, then unlink);
    ConfigError when none can (read-only, full, or missing)."""
    for directory in candidates:
        try:
            handle, name = tempfile.mkstemp(prefix="wgunicorn-", dir=directory)
        except OSError:
            continue
        os.close(handle)
        os.unlink(name)
        return directory
    raise ConfigError(
        f"no directory for the workers' heartbeat files: {', '.join(candidates)} are read-only, full or missing "
        "(give the container a writable /tmp, e.g. docker run --tmpfs /tmp)"
    )


def open_files_limit() -> int:
    """Raise the soft limit of open files to the hard one (connections are files) and return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def worker_connections(open_files: int) -> int:
    """How many connections a worker holds open: as many as its files allow, less a margin (at least gunicorn's
    1,000, at most 20,000). Past it a worker stops accepting, and a /ping waits in the listener's queue."""
    return max(1000, min(20_000, open_files - 100))


def check_port(host: str, port: int) -> None:
    """ConfigError when the server could not listen on host:port (in use, or no such address)."""
    try:
        socket.create_server((host, port)).close()
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _post_fork(server: Any, worker: Any) -> None:
    limit_native_threads()
    sys.setswitchinterval(SWITCH_INTERVAL)


# How long a thread keeps the GIL when another asks for it: the main thread answers /ping (5 ms by default).
SWITCH_INTERVAL = 0.001
TRIM_AFTER_BYTES = 1024 * 1024  # a body this large leaves tens of MB in malloc's free lists
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _post_request(worker: Any, request: Any, environ: dict[str, Any], response: Any) -> None:
    """After a large request, hand the memory its intermediates freed back to the system (glibc keeps it in
    per-thread arenas otherwise: after 8 concurrent 6 MiB requests the workers kept 556 of their 810 MB peak)."""
    if int(environ.get("CONTENT_LENGTH") or 0) >= TRIM_AFTER_BYTES:
        _LIBC.malloc_trim(0)


def write_json_error(sock: socket.socket, status: int, reason: str, detail: str) -> None:
    """gunicorn's answer to a request it cannot parse (bad request line, headers too large...), as our JSON body.

    It replaces `gunicorn.util.write_error`, which answers these in HTML, before Flask sees the request.
    """
    body = json.dumps({"error": reason.lower(), "detail": detail}).encode()
    head = f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
    gunicorn_util.write_nonblock(sock, f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body)


SO_ATTACH_FILTER = 26  # Linux, <asm-generic/socket.h>
# A classic BPF program of one instruction, `ret #0`: every packet dropped.
_DROP_ALL = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0))


def refuse_new_connections(listener: socket.socket) -> None:
    """Drop every packet a listening socket receives: no new connection completes its handshake (a client's SYN
    goes unanswered and is retried until the socket closes and refuses it), while connections already
    established, queued or not, keep their own sockets and are served."""
    program = struct.pack("HL", 1, ctypes.addressof(_DROP_ALL))  # struct sock_fprog
    try:
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)
    except OSError as error:  # not Linux: the listener closes at the end as gunicorn closes it
        log.warning("cannot hold new connections off while stopping: %s", error)


class ReadDeadlines:
    """Cuts off requests still arriving past their deadline, so that no client, stalled or trickling, holds a
    request thread: a watchdog thread shuts such a socket for reading, the read ends, the request is refused."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reading: dict[int, tuple[float, socket.socket]] = {}

    def start(self) -> None:
        """Start the watchdog (in the worker process, after the fork)."""
        threading.Thread(target=self._watch, name="read-deadlines", daemon=True).start()

    def watch(self, key: int, sock: socket.socket) -> None:
        """Give the request `key`, arriving on `sock`, its deadline."""
        self.reading[key] = (time.monotonic() + self.seconds, sock)

    def done(self, key: int) -> None:
        """The request `key` has been read and answered."""
        self.reading.pop(key, None)

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.seconds / 4))
            now = time.monotonic()
            for key, (deadline, sock) in list(self.reading.items()):  # a copy made under the GIL
                if now >= deadline:
                    self.reading.pop(key, None)
                    with contextlib.suppress(OSError):  # closed meanwhile
                        sock.shutdown(socket.SHUT_RD)


FREE_SLOT = -1  # a slot of ConnectionBalance that no live, serving worker holds
# How long a connection may wait in the listener for the least loaded worker before a busier one takes it.
ACCEPT_GRACE_SECONDS = 0.05
RECHECK_SECONDS = 0.01  # how often a worker that leaves new connections to another looks for one waiting


class ConnectionBalance:
    """Each worker's count of open connections, in memory the master shares with the workers it forks, so that a
    worker accepts only while it holds no more connections than the least loaded one; and a pipe per worker, by
    which a worker that stops accepting wakes the others (one of them is now the least loaded).

    gthread workers keep the keep-alive connections they accept, and without it the worker that wins the accept
    races (often one, on an idle machine) holds all of a client's connections while the other sits idle. The
    master gives each new worker a free slot (`assign`, gunicorn's pre_fork) and frees it when the worker exits
    (`release`, child_exit); a worker writes its own slot only.
    """

    def __init__(self, slots: int) -> None:
        self._memory = mmap.mmap(-1, 8 * slots)  # anonymous and shared: inherited by every fork
        self.counts = memoryview(self._memory).cast("q")
        self.wakers = [os.pipe() for _ in range(slots)]
        for slot, ends in enumerate(self.wakers):
            self.counts[slot] = FREE_SLOT
            for end in ends:
                os.set_blocking(end, False)

    def assign(self, server: Any, worker: Any) -> None:
        """pre_fork: give `worker` the first slot no live worker holds (none past the slots: it accepts freely),
        and free every slot no live worker holds."""
        held = {getattr(other, "balance_slot", None) for other in server.WORKERS.values()}
        free = [slot for slot in range(len(self.counts)) if slot not in held]
        for slot in free:
            self.counts[slot] = FREE_SLOT
        worker.balance = self
        worker.balance_slot = free[0] if free else None
        if free:
            self.counts[free[0]] = 0

    def release(self, server: Any, worker: Any) -> None:
        """child_exit: the worker's slot counts for nothing until a new worker gets it."""
        slot = getattr(worker, "balance_slot", None)
        if slot is not None:
            self.counts[slot] = FREE_SLOT

    def publish(self, slot: int, connections: int) -> None:
        """Record how many connections the worker in `slot` holds (FREE_SLOT: it no longer accepts)."""
        self.counts[slot] = connections

    def wake_others(self, slot: int) -> None:
        """Wake every other live worker: the worker in `slot` stops accepting."""
        for index, count in enumerate(self.counts):
            if index != slot and count >= 0:
                with contextlib.suppress(BlockingIOError):  # a full pipe wakes its reader anyway
                    os.write(self.wakers[index][1], b"\0")

    def woken(self, slot: int) -> None:
        """Empty the pipe of the worker in `slot`, which was woken."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.wakers[slot][0], 4096)

    def least_loaded(self, slot: int) -> bool:
        """Whether the worker in `slot` holds no more connections than every other live worker."""
        mine = self.counts[slot]
        return all(count < 0 or mine <= count for index, count in enumerate(self.counts) if index != slot)


def connection_waiting(listeners: Sequence[Any]) -> bool:
    """Whether a connection waits in one of the listening sockets' queues."""
    readable, _, _ = select.select([listener.sock for listener in listeners], [], [], 0)
    return bool(readable)


class DrainingThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker that loses no request on SIGTERM and lets no request take longer than
    `read_seconds` to arrive (`ReadDeadlines`).

    gunicorn stops accepting, but the kernel goes on completing connections into the listener's queue until the
    last process closes it; a client that reconnects after a `Connection: close` answer (as every keep-alive
    client does) sends its request into that queue and gets a reset. This worker holds new connections off
    first (`refuse_new_connections`), then accepts and serves what the queue already holds.
    """

    read_seconds = ServerSettings.read_timeout_seconds
    balance: ConnectionBalance | None = None  # set with balance_slot by ConnectionBalance.assign before the fork
    balance_slot: int | None = None
    _waiting_since: float | None = None  # since when this worker, out of turn, has seen connections wait
    _looked_at = 0.0  # when it last looked

    def init_process(self) -> None:
        """Start the read watchdog, then serve as gthread does."""
        self.deadlines = ReadDeadlines(self.read_seconds)
        self.deadlines.start()
        super().init_process()

    def run(self) -> None:
        """Serve as gthread does, woken when another worker stops accepting (`ConnectionBalance`)."""
        balance, slot = self.balance, self.balance_slot
        if balance is not None and slot is not None:
            self.poller.register(balance.wakers[slot][0], selectors.EVENT_READ, lambda _: balance.woken(slot))
        super().run()

    def handle(self, conn: Any) -> Any:
        """Serve one request on `conn` within its read deadline."""
        key = id(conn)
        self.deadlines.watch(key, conn.sock)
        try:
            return super().handle(conn)
        finally:
            self.deadlines.done(key)

    def enqueue_req(self, conn: Any) -> None:
        """Serve a connection with bytes to read: a waiting /ping at once in this (the main) thread, which never
        queues behind the request threads; a connection with nothing to read yet waits in the poller, not in
        a thread; anything else in the thread pool as gthread does."""
        if conn.initialized and conn.parser.unreader.buf.getvalue():  # a request already read ahead
            super().enqueue_req(conn)
            return
        try:
            head = conn.sock.recv(PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            if self.alive:
                self._wait_for_data(conn)
            else:
                super().enqueue_req(conn)
            return
        except OSError:
            head = b""
        if PING_HEAD.match(head):
            answered: Future[Any] = Future()
            answered.set_result(self.handle(conn))
            self.finish_request(conn, answered)
        else:
            super().enqueue_req(conn)

    def _wait_for_data(self, conn: Any) -> None:
        """Park a connection in the poller until it has bytes, as gthread parks one deferred by a thread."""
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: hold new connections off, then stop as gthread does."""
        if self.alive:
            for listener in self.sockets:
                refuse_new_connections(listener.sock)
        super().handle_exit(sig, frame)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """Publish this worker's connection count and accept only in its turn (`ConnectionBalance`), then wait
        as gthread does; out of turn, look again every RECHECK_SECONDS."""
        if self.balance is not None and self.balance_slot is not None:
            self.balance.publish(self.balance_slot, self.nr_conns if self.alive else FREE_SLOT)
            if self.alive:
                self.set_accept_enabled(self.nr_conns < self.worker_connections)
                if not self._accepting:
                    timeout = min(timeout, RECHECK_SECONDS)
        super().wait_for_and_dispatch_events(timeout)

    def set_accept_enabled(self, enabled: bool) -> None:
        """As gthread, and out of turn (`_accept_turn`) not at all; when stopping, the connections queued on the
        listeners are accepted first."""
        if enabled and self.alive and not self._accept_turn():
            enabled = False
            if self._accepting and self.balance is not None and self.balance_slot is not None:
                self.balance.wake_others(self.balance_slot)
        if not enabled and not self.alive and self._accepting:
            for listener in self.sockets:
                self._accept_queued(listener)
        super().set_accept_enabled(enabled)

    def _accept_turn(self) -> bool:
        """Whether to accept: as the least loaded worker, or when connections have been waiting in the listener's
        queue for ACCEPT_GRACE_SECONDS (the least loaded worker is held up, or a burst comes faster than the
        workers hand the turn to each other: neither may keep a connection, /ping included, waiting)."""
        if self.balance is None or self.balance_slot is None or self.balance.least_loaded(self.balance_slot):
            return True
        now = time.monotonic()
        if not connection_waiting(self.sockets):
            self._waiting_since = None
        elif self._waiting_since is None or now - self._looked_at > 2 * RECHECK_SECONDS:  # not seen all along
            self._waiting_since = now
        self._looked_at = now
        return self._waiting_since is not None and now - self._waiting_since >= ACCEPT_GRACE_SECONDS

    def _accept_queued(self, listener: Any) -> None:
        while True:
            try:
                client, address = listener.accept()
            except OSError as error:
                if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                    return
                raise
            self.nr_conns += 1
            client.setblocking(True)
            self.enqueue_req(TConn(self.cfg, client, address, listener.getsockname()))


def worker_class(settings: ServerSettings) -> type | str:
    """gunicorn's worker class: ours for gthread, with the read deadline of `settings`; sync as gunicorn has it."""
    if settings.worker_class != "gthread":
        return settings.worker_class
    return type("DrainingThreadWorker", (DrainingThreadWorker,), {"read_seconds": settings.read_timeout_seconds})


class AppAccessLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger without gunicorn's access lines: the app writes its own (DELAYCAST_ACCESS_LOG).

    With a logconfig_dict, gunicorn builds every request's access-log fields (a dict of headers and
    a formatted date) even though no handler prints them.
    """

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Nothing: request lines come from serve.app."""


class ModelServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn application serving an already-built Flask app."""

    def __init__(self, app: Flask, settings: ServerSettings, tmp_dir: str = HEARTBEAT_DIRS[0]) -> None:
        self.app = app
        self.settings = settings
        self.tmp_dir = tmp_dir
        super().__init__()

    def load_config(self) -> None:
        """gunicorn settings derived from ServerSettings; nothing read from files or argv."""
        settings = self.settings
        balance = ConnectionBalance(settings.workers)
        options = {
            "bind": f"{settings.host}:{settings.port}",
            "workers": settings.workers,
            "worker_class": worker_class(settings),
            "threads": settings.threads,
            "timeout": settings.timeout_seconds,
            "graceful_timeout": settings.graceful_timeout_seconds,
            "keepalive": 75,
            "worker_connections": worker_connections(open_files_limit()),
            "worker_tmp_dir": self.tmp_dir,  # heartbeat files (`heartbeat_dir`)
            "accesslog": None,
            "loglevel": settings.log_level,
            "logconfig_dict": gunicorn_logging(settings.log_level),
            "logger_class": AppAccessLogger,
            "control_socket_disable": True,  # it would write under $HOME: not on a read-only filesystem
            "post_fork": _post_fork,
            "post_request": _post_request,
            "pre_fork": balance.assign,
            "child_exit": balance.release,
            "preload_app": True,
            "proc_name": "delaycast-serve",
        }
        for key, value in options.items():
            self.cfg.set(key, value)
        gunicorn_util.write_error = write_json_error

    def load(self) -> Flask:
        """The WSGI app (already built in the master, shared by forked workers)."""
        return self.app
