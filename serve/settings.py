"""Server settings, read once from the environment at start-up and passed in."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from delaycast.environment import env_number
from delaycast.errors import ConfigError
from serve.codecs import CODECS, codec_named

MIB = 1024 * 1024
DEFAULT_PAYLOAD_MB = 6  # InvokeEndpoint's own limit: 6 MiB
BATCH_PAYLOAD_BUDGET_MB = 100  # MaxConcurrentTransforms x MaxPayloadInMB <= 100
WORKER_CLASSES = ("gthread", "sync")
BAD_RECORD_MODES = ("fail", "report")  # a request with refused records: a 400, or a 200 that holds them
CGROUP = Path("/sys/fs/cgroup")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True)
class ServerSettings:
    """Everything the server is told; defaults follow the SageMaker hosting contract."""

    model_dir: Path = Path("/opt/ml/model")
    host: str = "0.0.0.0"  # a container listens on all its interfaces
    port: int = 8080
    workers: int = 1
    worker_class: str = "gthread"  # gunicorn's: gthread (keep-alive, threads) or sync (one request per worker)
    threads: int = 4
    timeout_seconds: int = 60
    graceful_timeout_seconds: int = 25
    max_payload_mb: float = DEFAULT_PAYLOAD_MB
    log_level: str = "info"
    access_log: bool = False  # one line per successful request; failed ones are always logged
    default_accept: str = "application/json"  # the answer's media type for a request without Accept, or */*
    bad_records: str = "fail"  # DELAYCAST_BAD_RECORDS: one of BAD_RECORD_MODES
    read_timeout_seconds: float = 30.0  # how long a request may take to arrive, head and body (gthread workers)

    @property
    def max_payload_bytes(self) -> int:
        """The body size limit in bytes."""
        return int(self.max_payload_mb * MIB)

    @property
    def report_bad_records(self) -> bool:
        """Whether answers hold refused records in their places (DELAYCAST_BAD_RECORDS=report)."""
        return self.bad_records == "report"

    @property
    def max_concurrent_transforms(self) -> int:
        """Batch Transform concurrency, within SageMaker's payload budget."""
        return max(1, min(self.workers, int(BATCH_PAYLOAD_BUDGET_MB // self.max_payload_mb)))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> ServerSettings:
        """Settings from SageMaker's environment variables (and ours), then explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "model_dir": Path(env.get("DELAYCAST_MODEL_DIR", "/opt/ml/model")),
            "host": env.get("DELAYCAST_HOST", cls.host),
            "port": env_number(env, "SAGEMAKER_BIND_TO_PORT", cls.port, 1, 65535),
            "workers": env_number(env, "SAGEMAKER_MODEL_SERVER_WORKERS", usable_cpus(), 1, 64),
            "worker_class": _choice(env, "DELAYCAST_WORKER_CLASS", cls.worker_class, WORKER_CLASSES),
            "threads": env_number(env, "DELAYCAST_THREADS", cls.threads, 1, 64),
            "timeout_seconds": env_number(env, "SAGEMAKER_MODEL_SERVER_TIMEOUT", cls.timeout_seconds, 1, 3600),
            "max_payload_mb": env_number(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", float(DEFAULT_PAYLOAD_MB), 0.001, 100.0),
            "log_level": env.get("DELAYCAST_LOG_LEVEL", cls.log_level).lower(),
            "access_log": _bool(env, "DELAYCAST_ACCESS_LOG", cls.access_log),
            "default_accept": _media_type(env, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", cls.default_accept),
            "bad_records": _choice(env, "DELAYCAST_BAD_RECORDS", cls.bad_records, BAD_RECORD_MODES),
            "read_timeout_seconds": env_number(env, "DELAYCAST_READ_TIMEOUT", cls.read_timeout_seconds, 0.1, 3600.0),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def usable_cpus(cgroup: Path = CGROUP) -> int:
    """The CPUs this process may use: those it may run on, capped by its cgroup's CPU quota rounded up
    (`docker run --cpus=1.5` gives 2), at least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota(cgroup)
    return max(1, min(cpus, math.ceil(quota))) if quota is not None else max(1, cpus)


def cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """CPUs' worth of the cgroup's quota: cgroup v2's cpu.max ("150000 100000"), else v1's cfs_quota_us over
    cfs_period_us; None for no quota ("max", -1) or no cgroup files."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1") or not quota.isdigit() or not period.isdigit() or not int(period):
        return None
    return int(quota) / int(period)


def _media_type(env: Mapping[str, str], name: str, default: str) -> str:
    """A media type the server answers in (or a common alias of one)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if codec_named(raw) is None:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(CODECS)}")
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _choice(env, name, "", tuple(_BOOLEANS))
    return _BOOLEANS[raw] if raw else default


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw
