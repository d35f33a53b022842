"""What deploy uploads: model.tar.gz as SageMaker unpacks it, the Lambda zip as Lambda imports it, byte-stable."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from delaycast.artifact import read_manifest, verify_files
from delaycast.errors import ConfigError
from deploy.aws.artifacts import Revision, git_revision, package_lambda, package_model


def test_model_archive_has_the_files_at_its_root_and_verifies_after_unpacking(model_dir: Path, tmp_path: Path) -> None:
    archive = package_model(model_dir, tmp_path / "out")

    with tarfile.open(archive.path) as packed:
        assert packed.getnames() == ["manifest.json", "model.skops"]  # SageMaker unpacks into /opt/ml/model/
        packed.extractall(tmp_path / "opt-ml-model", filter="data")
    unpacked = tmp_path / "opt-ml-model"
    verify_files(unpacked, read_manifest(unpacked))
    assert archive.version == "0.1.0-aaaaaaaaaaaa"
    assert archive.key == f"models/0.1.0-aaaaaaaaaaaa/{archive.sha256[:12]}/model.tar.gz"


def test_model_archive_is_byte_for_byte_reproducible(model_dir: Path, tmp_path: Path) -> None:
    first = package_model(model_dir, tmp_path / "one")
    (model_dir / "model.skops").touch()  # a new mtime changes nothing

    assert package_model(model_dir, tmp_path / "two").sha256 == first.sha256


def test_files_the_manifest_does_not_list_stay_out(model_dir: Path, tmp_path: Path) -> None:
    (model_dir / ".DS_Store").write_bytes(b"junk")

    with tarfile.open(package_model(model_dir, tmp_path).path) as packed:
        assert ".DS_Store" not in packed.getnames()


def test_a_directory_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="make train"):
        package_model(tmp_path, tmp_path / "out")


def test_lambda_zip_imports_with_nothing_but_itself_and_boto3(tmp_path: Path) -> None:
    # Lambda never runs our code in moto: this imports the zip's handler in a fresh interpreter that
    # cannot see the repository, as the python3.11 runtime would (whose boto3 stands in for the venv's),
    # and checks that nothing beyond the standard library and boto3 was imported.
    package = package_lambda(tmp_path)
    with zipfile.ZipFile(package.path) as archive:
        assert sorted(archive.namelist()) == sorted(package.files)
        archive.extractall(tmp_path / "task")
    task = tmp_path / "task"
    check = (
        f"import sys; sys.path.insert(0, {str(task)!r}); import delaycast, delaycast_api.handler as handler; "
        "print(delaycast.__file__, callable(handler.lambda_handler), "
        "*sorted({name.split('.')[0] for name in sys.modules} & {'pandas', 'numpy', 'orjson', 'serve', 'train'}))"
    )
    done = subprocess.run([sys.executable, "-I", "-c", check], cwd=task, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(task / "delaycast" / "__init__.py"), "True"]
    assert {"delaycast/records.py", "delaycast_api/handler.py"} <= set(package.files)


def test_lambda_zip_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    assert package_lambda(tmp_path / "one").code_sha256 == package_lambda(tmp_path / "two").code_sha256


def test_revision_tag_says_dirty(tmp_path: Path) -> None:
    assert Revision("0123456789ab", dirty=True).tag == "git-0123456789ab-dirty"
    with pytest.raises(ConfigError, match="pass --image-uri"):
        git_revision(tmp_path)
    assert len(git_revision().commit) == 12
