"""Memory of the whole server under its worst accepted load: `python -m serve --workers 2` (`--threads` each) on
127.0.0.1, `--clients` concurrent 6 MiB CSV bodies for `--seconds`, bounded.

Prints the peak of the summed proportional set size (PSS: shared pages counted once, as a container's memory
limit counts them) of the master and its workers, sampled every 50 ms, the baseline before the load and what
the workers keep 3 s after it.

    python -m bench.memory_bench --model-dir build/bench/model --clients 8 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from bench.ping_bench import ROW, post_big, served


def server_pids(port: int) -> list[int]:
    """The master listening on `port` and its children, from /proc."""
    masters = [pid for pid in _pids() if f"--port\x00{port}\x00".encode() in _cmdline(pid)]
    return masters + [pid for pid in _pids() if _parent(pid) in masters]


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def pss_mb(pids: list[int]) -> float:
    """Summed PSS of the processes, MB."""
    total = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in lines if line.startswith("Pss:"))
    return total / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=4, help="DELAYCAST_THREADS of each worker")
    args = parser.parse_args()
    body = ROW * (6 * 1024 * 1024 // len(ROW))
    with served(args.model_dir, {"DELAYCAST_THREADS": str(args.threads)}) as port:
        pids = server_pids(port)
        baseline = pss_mb(pids)
        until = time.monotonic() + args.seconds
        clients = [threading.Thread(target=post_big, args=(port, body, until)) for _ in range(args.clients)]
        for client in clients:
            client.start()
        peak = baseline
        while any(client.is_alive() for client in clients):
            peak = max(peak, pss_mb(pids))
            time.sleep(0.05)
        time.sleep(3)
        after = pss_mb(pids)
    figures = {"clients": args.clients, "threads": args.threads, "baseline_mb": round(baseline), "peak_mb": round(peak)}
    print(json.dumps({**figures, "after_mb": round(after), "loadavg_1min": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
