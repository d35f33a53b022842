"""What a model directory's manifest may be and name, checked before anything it lists is read.

The manifest is read from a directory somebody else packed (a model.tar.gz unpacked by SageMaker): it must be
small JSON of plain depth, and its `files` may name only plain files inside the directory: no absolute path, no
`..`, no symlink that leads out, no directory or device. `delaycast.artifact` then checks their hashes and the
package versions.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path, PurePosixPath

from delaycast.artifact import MANIFEST
from delaycast.errors import ModelArtifactError

MANIFEST_MAX_BYTES = 1024 * 1024  # a real manifest is about 2 KB


def check_manifest(model_dir: Path) -> None:
    """Refuse (ModelArtifactError) a manifest that is too large, too deeply nested, or names a file that is not a
    plain file inside `model_dir`. A missing or malformed manifest is left to `delaycast.artifact` to name."""
    path = model_dir / MANIFEST
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size > MANIFEST_MAX_BYTES:
        raise ModelArtifactError(f"{path}: {size} bytes, more than a manifest's {MANIFEST_MAX_BYTES}")
    try:
        manifest = json.loads(path.read_bytes())
    except RecursionError:
        raise ModelArtifactError(f"{path}: nested too deeply") from None
    except ValueError:  # not JSON: delaycast.artifact says so
        return
    files = manifest.get("files") if isinstance(manifest, dict) else None
    for name in files if isinstance(files, dict) else ():
        check_member(model_dir, name)


def check_member(model_dir: Path, name: str) -> None:
    """Refuse a manifest entry that is not the relative name of a plain file inside `model_dir`."""
    where = f"{model_dir / MANIFEST}: files entry {name!r}"
    relative = PurePosixPath(name)
    if not name or relative.is_absolute() or "\\" in name or ".." in relative.parts:
        raise ModelArtifactError(f"{where} is not a relative path inside the model directory")
    path = model_dir / relative
    if not path.resolve().is_relative_to(model_dir.resolve()):
        raise ModelArtifactError(f"{where} leads out of the model directory (a symlink)")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return  # named as missing by delaycast.artifact
    if not stat.S_ISREG(mode):
        raise ModelArtifactError(f"{where} is not a plain file")
