"""A Flask test client over the small trained model."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from delaycast.artifact import LoadedModel
from serve.app import create_app
from serve.runtime import ModelRuntime
from serve.server import limit_native_threads
from serve.settings import ServerSettings


@pytest.fixture(scope="session")
def runtime(loaded_model: LoadedModel) -> ModelRuntime:
    """The scikit-learn runtime (no compiled path), with one native thread as in a server worker (see serve.server)."""
    limit_native_threads()
    return ModelRuntime(loaded_model.manifest, estimator=loaded_model.estimator)


@pytest.fixture
def client(runtime: ModelRuntime) -> FlaskClient:
    settings = ServerSettings(workers=2, max_payload_mb=1)
    return create_app(runtime, settings).test_client()
