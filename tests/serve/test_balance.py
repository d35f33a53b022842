"""Keep-alive connections are spread over the workers (`serve.server.ConnectionBalance`), `python -m serve` on
127.0.0.1. Which worker holds a connection is read from /proc: the process whose socket has the client's port."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from serve.server import ConnectionBalance
from tests.serve.test_server import Server, start_server, wait_healthy
from tests.serve.test_shutdown import REQUEST, response_head

PROC = Path("/proc")


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[Server]:
    process, url = start_server(model_dir)
    server = Server(process, url)
    try:
        wait_healthy(server)
        wait_for_workers(server, 2)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for_workers(server: Server, count: int) -> None:
    """Until `count` workers have each served a connection (the first /ping answers once one worker is up; a
    later one may still be starting), within 30 s."""
    served: set[int] = set()
    deadline = time.monotonic() + 30
    while len(served) < count and time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port(server)), timeout=10) as client:
            assert post(client) is not None
            served.update(worker for worker, held in holders(server, [client]).items() if held)
        time.sleep(0.05)
    assert len(served) >= count, f"{len(served)} of {count} workers served a connection within 30 s"


def port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def open_connections(server_port: int) -> int:
    """Connections to 127.0.0.1:server_port that the server has not closed yet (/proc/net/tcp, not LISTEN)."""
    rows = [line.split() for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if int(row[1].split(":")[1], 16) == server_port and row[3] != "0A" and row[9] != "0")


@pytest.fixture
def idle(server: Server) -> Server:
    """The server once it holds no connection (those of an earlier test closed), within 10 s."""
    deadline = time.monotonic() + 10
    while open_connections(port(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return server


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers, for the master)."""
    found = []
    for status in PROC.glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:  # the process ended meanwhile
            continue
        if f"\nPPid:\t{pid}\n" in text:
            found.append(int(status.parent.name))
    return found


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process `pid` has open."""
    inodes = set()
    for fd in (PROC / str(pid) / "fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def remote_ports(server_port: int) -> dict[str, int]:
    """Socket inode -> the client's port, for connections accepted on 127.0.0.1:server_port (/proc/net/tcp)."""
    ports = {}
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and inode != "0":
            ports[inode] = int(remote.split(":")[1], 16)
    return ports


def holders(server: Server, clients: list[socket.socket]) -> Counter[int]:
    """How many of `clients` each worker holds."""
    ports = remote_ports(port(server))
    wanted = {client.getsockname()[1] for client in clients}
    tally: Counter[int] = Counter()
    for worker in children(server.process.pid):
        tally[worker] = sum(1 for inode in socket_inodes(worker) if ports.get(inode) in wanted)
    return tally


def post(client: socket.socket) -> bytes | None:
    client.sendall(REQUEST)
    return response_head(client)


@pytest.mark.parametrize("connections", [4, 16])
def test_keep_alive_connections_are_spread_over_the_workers(idle: Server, connections: int) -> None:
    server = idle
    clients: list[socket.socket] = []
    try:
        for _ in range(connections):  # as a client pool opens them: one more when the ones it has are busy
            clients.append(socket.create_connection(("127.0.0.1", port(server)), timeout=10))
            assert post(clients[-1]) is not None
        for _ in range(3):
            for client in clients:
                head = post(client)
                assert head is not None
                assert head.startswith(b"HTTP/1.1 200"), head
        tally = holders(server, clients)
        assert sorted(tally.values()) == [connections // 2, connections // 2], tally
    finally:
        for client in clients:
            client.close()


def test_a_new_connection_is_answered_while_the_workers_hold_others(idle: Server) -> None:
    server = idle
    clients = [socket.create_connection(("127.0.0.1", port(server)), timeout=10) for _ in range(3)]
    try:
        for client in clients:
            assert post(client) is not None
        started = time.monotonic()
        assert server.request("/ping", timeout=5)[0] == 200
        assert time.monotonic() - started < 2
    finally:
        for client in clients:
            client.close()


def test_the_master_gives_each_live_worker_a_slot_and_frees_it_when_the_worker_exits() -> None:
    balance = ConnectionBalance(2)
    server = SimpleNamespace(WORKERS={})
    first, second, extra = SimpleNamespace(), SimpleNamespace(), SimpleNamespace()
    for pid, worker in enumerate((first, second, extra)):
        balance.assign(server, worker)
        server.WORKERS[pid] = worker
    assert (first.balance_slot, second.balance_slot, extra.balance_slot) == (0, 1, None)
    assert list(balance.counts) == [0, 0]
    balance.publish(0, 3)
    assert not balance.least_loaded(0)
    assert balance.least_loaded(1)
    balance.release(server, first)
    del server.WORKERS[0]
    balance.publish(1, 5)
    assert balance.least_loaded(1)  # a dead worker's slot counts for nothing
    replacement = SimpleNamespace()
    balance.assign(server, replacement)
    assert replacement.balance_slot == 0
    assert list(balance.counts) == [0, 5]


def test_a_lone_worker_always_accepts() -> None:
    balance = ConnectionBalance(1)
    balance.assign(SimpleNamespace(WORKERS={}), worker := SimpleNamespace())
    balance.publish(worker.balance_slot, 100)
    assert balance.least_loaded(0)
