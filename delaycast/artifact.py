"""The model directory: a skops file, the compiled archive, and a manifest with versions and SHA-256 of every file.

This is the directory SageMaker tars into model.tar.gz and unpacks into
/opt/ml/model. Loading verifies hashes and versions before anything is
deserialised, and skops refuses any type outside an explicit allowlist, so a
tampered or foreign artifact is refused instead of executed. The compiled archive
(`delaycast.compiled`) is plain arrays and JSON, read without pickles.

skops and scikit-learn are imported by the functions that read or write the
pipeline, not by this module: a server loading the compiled archive imports neither
(together about 1 s of its cold start).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import stat
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import delaycast
from delaycast import compiled
from delaycast.errors import ModelArtifactError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MANIFEST = "manifest.json"
MANIFEST_MAX_BYTES = 1024 * 1024  # a real manifest is about 2 KB
MODEL_FILE = "model.skops"
COMPILED_FILE = "compiled.npz"
FORMAT = "delaycast-model/1"
# Versions that must match exactly between the trainer and the server.
PINNED_PACKAGES = ("scikit-learn", "skops")
REPORTED_PACKAGES = ("scikit-learn", "skops", "numpy", "pandas", "scipy")
# Types outside skops' default trust that our pipeline legitimately contains.
TRUSTED_TYPES = (
    "delaycast.transformer.FlightFeatures",
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.model_selection._split.KFold",
    "sklearn.utils.validation.check_array",
)


log = logging.getLogger("delaycast.artifact")


@dataclass(frozen=True)
class LoadedModel:
    """A verified estimator and the manifest it was saved with."""

    estimator: Pipeline
    manifest: dict[str, Any]


def package_versions() -> dict[str, str]:
    """Versions of Python, delaycast and the packages the artifact depends on."""
    versions = {"python": platform.python_version(), "delaycast": delaycast.__version__}
    versions.update({name: metadata.version(name) for name in REPORTED_PACKAGES})
    return versions


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(estimator: Pipeline, model_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write the estimator, its compiled archive and a manifest (versions and hashes added) into `model_dir`."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model_path = model_dir / MODEL_FILE
    _skops().dump(estimator, model_path)
    files = {MODEL_FILE: sha256_of(model_path)}
    archive = _compiled_archive(estimator)
    if archive is not None:
        (model_dir / COMPILED_FILE).write_bytes(archive)
        files[COMPILED_FILE] = sha256_of(model_dir / COMPILED_FILE)
    full = {
        "format": FORMAT,
        "model_version": manifest.get("model_version") or f"{delaycast.__version__}-{files[MODEL_FILE][:12]}",
        **manifest,
        "versions": package_versions(),
        "files": files,
    }
    (model_dir / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    return full


def _compiled_archive(estimator: Pipeline) -> bytes | None:
    from delaycast import compiler  # scikit-learn: see the module docstring

    try:
        return compiler.export(compiler.compile_pipeline(estimator), estimator)
    except compiled.CompileError as error:
        log.warning("no compiled archive for this model (servers will use scikit-learn): %s", error)
        return None


def verify_model_dir(model_dir: Path) -> dict[str, Any]:
    """The manifest of a model directory whose files are verified; else ModelArtifactError.

    The package versions matter only to the skops file (`load_model` checks them): the compiled archive is
    checked against its probe answers when it loads, so a server without scikit-learn can verify a model.
    """
    manifest = read_manifest(model_dir)
    verify_files(model_dir, manifest)
    return manifest


def load_model(model_dir: Path) -> LoadedModel:
    """Verify and load a model directory; raise ModelArtifactError on any mismatch."""
    from sklearn.pipeline import Pipeline  # see the module docstring

    manifest = verify_model_dir(model_dir)
    verify_versions(manifest)
    model_path = model_dir / MODEL_FILE
    skops_io = _skops()
    untrusted = [t for t in skops_io.get_untrusted_types(file=model_path) if t not in TRUSTED_TYPES]
    if untrusted:
        raise ModelArtifactError(f"{model_path}: refusing to load untrusted types {', '.join(untrusted)}")
    try:
        estimator = skops_io.load(model_path, trusted=list(TRUSTED_TYPES))
    except Exception as error:  # skops raises many types for a corrupt file
        raise ModelArtifactError(f"{model_path}: cannot be loaded ({type(error).__name__}: {error})") from error
    if not isinstance(estimator, Pipeline):
        raise ModelArtifactError(f"{model_path}: holds a {type(estimator).__name__}, not a Pipeline")
    return LoadedModel(estimator, manifest)


def load_compiled(model_dir: Path, manifest: dict[str, Any]) -> compiled.CompiledPipeline:
    """The verified directory's compiled archive, checked against its probe answers; raises CompileError."""
    if COMPILED_FILE not in manifest.get("files", {}):
        raise compiled.CompileError(f"{model_dir} has no {COMPILED_FILE}")
    return compiled.load((model_dir / COMPILED_FILE).read_bytes())


def _skops() -> Any:
    """skops.io, imported on first use (see the module docstring); it imports all of scikit-learn."""
    import skops.io

    return skops.io


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """The manifest of a model directory, checked for its format: JSON of at most MANIFEST_MAX_BYTES and plain
    depth (a model.tar.gz is somebody else's packing)."""
    path = model_dir / MANIFEST
    if not path.is_file():
        raise ModelArtifactError(f"{path}: missing; is {model_dir} a delaycast model directory?")
    size = path.stat().st_size
    if size > MANIFEST_MAX_BYTES:
        raise ModelArtifactError(f"{path}: {size} bytes, more than a manifest's {MANIFEST_MAX_BYTES}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelArtifactError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise ModelArtifactError(f"{path}: nested too deeply") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelArtifactError(f"{path}: not a {FORMAT} manifest")
    return manifest


def verify_files(model_dir: Path, manifest: dict[str, Any]) -> None:
    """Every file listed in the manifest is a plain file inside the model directory (`check_member`) and exists
    with the recorded SHA-256."""
    for name in manifest.get("files", {}):
        check_member(model_dir, name)
    for name, expected in manifest.get("files", {}).items():
        path = model_dir / name
        if not path.is_file():
            raise ModelArtifactError(f"{path}: listed in the manifest but missing")
        actual = sha256_of(path)
        if actual != expected:
            raise ModelArtifactError(
                f"{path}: SHA-256 {actual[:16]}... does not match the manifest's {expected[:16]}..."
            )
    if MODEL_FILE not in manifest.get("files", {}):
        raise ModelArtifactError(f"{model_dir / MANIFEST}: lists no {MODEL_FILE}")


def check_member(model_dir: Path, name: str) -> None:
    """Refuse a manifest entry that is not the relative name of a plain file inside `model_dir`: an absolute path,
    `..`, a symlink that leads out, a directory or a device."""
    where = f"{model_dir / MANIFEST}: files entry {name!r}"
    relative = PurePosixPath(name)
    if not name or relative.is_absolute() or "\\" in name or ".." in relative.parts:
        raise ModelArtifactError(f"{where} is not a relative path inside the model directory")
    path = model_dir / relative
    if not path.resolve().is_relative_to(model_dir.resolve()):
        raise ModelArtifactError(f"{where} leads out of the model directory (a symlink)")
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        raise ModelArtifactError(f"{where} is not a plain file")


def verify_versions(manifest: dict[str, Any]) -> None:
    """The packages that deserialise the model are the versions that saved it."""
    saved = manifest.get("versions", {})
    for name in PINNED_PACKAGES:
        running = metadata.version(name)
        if saved.get(name) != running:
            raise ModelArtifactError(
                f"model was saved with {name} {saved.get(name)} but this is {name} {running}; "
                "retrain or install the matching version"
            )
