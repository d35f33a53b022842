"""Clients that stall or trickle cannot hold a request thread: a request must arrive within DELAYCAST_READ_TIMEOUT
(`python -m serve` on 127.0.0.1, bounded in count and time)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.test_server import Server, start_server, wait_healthy

ROW = b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n"
HEAD = b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n"
READ_TIMEOUT = 1.5


@pytest.fixture
def impatient(model_dir: Path) -> Iterator[Server]:
    """One worker of 4 threads whose requests must arrive within 1.5 s."""
    process, url = start_server(model_dir, DELAYCAST_READ_TIMEOUT=str(READ_TIMEOUT), SAGEMAKER_MODEL_SERVER_WORKERS="1")
    server = Server(process, url)
    try:
        wait_healthy(server)
        yield server
    finally:
        process.kill()
        process.communicate()


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_a_stalled_body_is_cut_off_at_the_read_timeout(impatient: Server) -> None:
    sock = connect(impatient)
    sock.sendall(HEAD % (len(ROW) * 10) + ROW)  # a tenth of the body, then nothing
    started = time.monotonic()
    answer = answer_of(sock)
    assert time.monotonic() - started < READ_TIMEOUT + 2
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"DELAYCAST_READ_TIMEOUT" in answer


def test_a_trickling_body_is_cut_off_too(impatient: Server) -> None:
    sock = connect(impatient)
    sock.sendall(HEAD % (len(ROW) * 100))
    started = time.monotonic()
    sock.settimeout(0.2)
    answer = b""
    while not answer and time.monotonic() - started < READ_TIMEOUT + 3:
        sock.sendall(b"U")  # one byte every 0.2 s: each read waits less than any per-read timeout
        try:
            answer = sock.recv(65536)
        except TimeoutError:
            continue
    assert answer.startswith(b"HTTP/1.1 400 "), answer


def test_stalled_clients_leave_the_server_answering(impatient: Server) -> None:
    stalled = [connect(impatient) for _ in range(8)]  # twice the threads
    for sock in stalled[:4]:
        sock.sendall(HEAD % 1000 + ROW)
    time.sleep(READ_TIMEOUT + 1.5)
    status, body = impatient.request("/invocations", ROW, timeout=5)
    assert status == 200, body
    for sock in stalled:
        sock.close()
