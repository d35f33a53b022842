"""What deploy uploads, built locally and byte-for-byte reproducibly: model.tar.gz, the Lambda zip, the image's tag.

Fixed timestamps, owners and order make the same inputs give the same bytes,
so a second deploy finds the same SHA-256 and uploads nothing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from delaycast.artifact import MANIFEST, read_manifest, verify_files
from delaycast.errors import ConfigError, ModelArtifactError

REPO = Path(__file__).resolve().parents[2]
# The Lambda package: lambda/delaycast_api at the root, and the pure-Python part of delaycast it imports
# (no pandas, NumPy or orjson: the function has the standard library and the runtime's boto3).
LAMBDA_PACKAGE = REPO / "lambda" / "delaycast_api"
DELAYCAST_MODULES = (
    "__init__.py",
    "context.py",
    "environment.py",
    "errors.py",
    "fields.py",
    "records.py",
    "store.py",
)
LAMBDA_FILES = {
    **{f"delaycast_api/{path.name}": path for path in sorted(LAMBDA_PACKAGE.glob("*.py"))},
    **{f"delaycast/{name}": REPO / "delaycast" / name for name in DELAYCAST_MODULES},
}
# What the Dockerfile copies: a change under these makes the working tree "dirty" for the image.
IMAGE_SOURCES = ("Dockerfile", "requirements", "delaycast", "train", "serve", "container")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ModelArchive:
    """model.tar.gz: the model directory's files at the archive root, as SageMaker unpacks into /opt/ml/model."""

    path: Path
    sha256: str
    size: int
    version: str
    files: tuple[str, ...]

    @property
    def key(self) -> str:
        """Its S3 key: one per model version and content, never overwritten."""
        return f"models/{self.version}/{self.sha256[:12]}/model.tar.gz"


@dataclass(frozen=True)
class LambdaPackage:
    """The Lambda zip and its SHA-256 as Lambda reports it (base64)."""

    path: Path
    code_sha256: str
    size: int

    @property
    def files(self) -> tuple[str, ...]:
        """The archive's members."""
        return tuple(LAMBDA_FILES)


@dataclass(frozen=True)
class Revision:
    """The git commit the image is built from; dirty when the image's sources differ from it."""

    commit: str
    dirty: bool

    @property
    def tag(self) -> str:
        """The image tag for this revision."""
        return f"git-{self.commit}" + ("-dirty" if self.dirty else "")


def package_model(model_dir: Path, out_dir: Path) -> ModelArchive:
    """Verify the model directory (manifest and hashes) and write model.tar.gz into `out_dir`."""
    try:
        manifest = read_manifest(model_dir)
        verify_files(model_dir, manifest)
    except ModelArtifactError as error:
        raise ConfigError(f"model_dir: {error.detail} (train a model first: make train)") from None
    files = (MANIFEST, *sorted(manifest["files"]))
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
        tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name in files:
            data = (model_dir / name).read_bytes()
            archive.addfile(_tar_member(name, len(data)), io.BytesIO(data))
    path = _write(out_dir / "model.tar.gz", raw.getvalue())
    digest = hashlib.sha256(raw.getvalue()).hexdigest()
    return ModelArchive(path, digest, len(raw.getvalue()), str(manifest["model_version"]), files)


def _tar_member(name: str, size: int) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = size
    member.mode = 0o644
    member.mtime = 0
    return member


def package_lambda(out_dir: Path) -> LambdaPackage:
    """Write the Lambda zip (the delaycast_api package and delaycast's pure-Python modules) into `out_dir`."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in LAMBDA_FILES.items():
            member = zipfile.ZipInfo(name, ZIP_TIME)
            member.external_attr = 0o644 << 16
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, source.read_bytes())
    path = _write(out_dir / "predict-lambda.zip", raw.getvalue())
    code_sha256 = base64.b64encode(hashlib.sha256(raw.getvalue()).digest()).decode()
    return LambdaPackage(path, code_sha256, len(raw.getvalue()))


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def git_revision(repo: Path = REPO) -> Revision:
    """The commit checked out in `repo`, and whether the image's sources have uncommitted changes."""
    commit = _git(repo, "rev-parse", "--short=12", "HEAD")
    changes = _git(repo, "status", "--porcelain", "--", *IMAGE_SOURCES)
    return Revision(commit, bool(changes))


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise ConfigError(f"cannot read the git revision of {repo} ({error}); pass --image-uri instead") from None
    return done.stdout.strip()
