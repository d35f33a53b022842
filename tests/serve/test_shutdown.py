"""SIGTERM under keep-alive load: every request a client has fully sent is answered (`python -m serve`, 127.0.0.1)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

from tests.serve.test_server import Server, start_server, wait_healthy

BODY = b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400"
REQUEST = b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
CONNECTIONS = 32
LOAD_SECONDS = 6.0  # the load stops by itself; SIGTERM comes after 1.5 s of it


def response_head(sock: socket.socket) -> bytes | None:
    """The head of one response (its body read too), or None when the connection ends first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head


def keep_posting(port: int, until: float, tally: Counter[str], lock: threading.Lock) -> None:
    """POST over one keep-alive connection, reconnecting after `Connection: close`, until `until`."""
    sock: socket.socket | None = None
    while time.monotonic() < until:
        if sock is None:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:  # refused or held off: nothing was sent
                time.sleep(0.05)
                continue
        try:
            sock.sendall(REQUEST)
        except OSError:  # the connection was closed before the request went out: not sent
            sock.close()
            sock = None
            continue
        try:
            head = response_head(sock)
        except OSError:
            head = None
        with lock:
            tally["answered" if head is not None else "lost"] += 1
        if head is None or b"connection: close" in head.lower():
            sock.close()
            sock = None
    if sock is not None:
        sock.close()


def test_sigterm_loses_no_request_sent_on_a_keep_alive_connection(model_dir: Path) -> None:
    process, url = start_server(model_dir)
    try:
        wait_healthy(Server(process, url))
        port = int(url.rsplit(":", 1)[1])
        tally: Counter[str] = Counter()
        lock = threading.Lock()
        until = time.monotonic() + LOAD_SECONDS
        clients = [threading.Thread(target=keep_posting, args=(port, until, tally, lock)) for _ in range(CONNECTIONS)]
        for client in clients:
            client.start()
        time.sleep(1.5)
        process.send_signal(signal.SIGTERM)
        for client in clients:
            client.join(timeout=LOAD_SECONDS + 10)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0]
    assert tally["answered"] > CONNECTIONS, output[-2000:]
    assert tally["lost"] == 0, (tally, output[-2000:])
