"""The SageMaker endpoint: its sagemaker-runtime client, one InvokeEndpoint call a request, what its failures
mean to the caller, and its answer read back into one result a flight."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Protocol, TypeGuard

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from delaycast_api.answers import ApiError
from delaycast_api.settings import Settings

LABELS = ("delay", "no delay")
# The API answers probabilities and thresholds to 4 decimals; the container answers them at full precision.
DECIMALS = 4
RETRY_AFTER_THROTTLED = "1"
RETRY_AFTER_UNAVAILABLE = "5"


class RuntimeClient(Protocol):
    """The part of boto3's sagemaker-runtime client the handler uses."""

    def invoke_endpoint(self, **params: Any) -> Mapping[str, Any]:
        """Call InvokeEndpoint."""
        ...


def make_client(settings: Settings) -> RuntimeClient:
    """A sagemaker-runtime client: short connect and bounded read timeouts, two attempts in all."""
    config = Config(
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        retries={"total_max_attempts": 2, "mode": "standard"},  # botocore's "max_attempts" would not count the first
    )
    client: RuntimeClient = boto3.client(
        "sagemaker-runtime", region_name=settings.region, endpoint_url=settings.runtime_url, config=config
    )
    return client


class MalformedAnswer(ApiError):
    """An endpoint answer that is not the container's JSON, or has the wrong number of predictions."""

    def __init__(self) -> None:
        super().__init__(HTTPStatus.BAD_GATEWAY, "the model answered in an unexpected format", None, "MalformedAnswer")


def score(client: RuntimeClient, endpoint_name: str, lines: list[str]) -> list[dict[str, Any]]:
    """The endpoint's result for each CSV line, in order; ApiError for each way the call can fail."""
    try:
        answer = client.invoke_endpoint(
            EndpointName=endpoint_name,
            ContentType="text/csv",
            Accept="application/json",
            Body="".join(line + "\n" for line in lines).encode(),
        )
        raw = answer["Body"].read()
    except ClientError as error:
        raise endpoint_failure(error) from None
    except (ReadTimeoutError, ConnectTimeoutError) as error:
        detail = "the model did not answer in time"
        raise ApiError(HTTPStatus.GATEWAY_TIMEOUT, detail, None, type(error).__name__) from None
    except EndpointConnectionError as error:
        detail = "the model endpoint cannot be reached; retry shortly"
        headers = {"Retry-After": RETRY_AFTER_UNAVAILABLE}
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, detail, headers, type(error).__name__) from None
    return parse_answer(raw, len(lines))


def endpoint_failure(error: ClientError) -> ApiError:
    """The answer to an InvokeEndpoint error: the caller learns what to do, never the internals."""
    code = str(error.response.get("Error", {}).get("Code") or "ClientError")
    if code == "ModelError":
        return _model_error(error.response)
    if code == "ThrottlingException":
        headers = {"Retry-After": RETRY_AFTER_THROTTLED}
        return ApiError(HTTPStatus.TOO_MANY_REQUESTS, "too many requests to the model; retry shortly", headers, code)
    if code in ("ModelNotReadyException", "ServiceUnavailable"):
        headers = {"Retry-After": RETRY_AFTER_UNAVAILABLE}
        return ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "the model is not ready; retry shortly", headers, code)
    cause = str(error.response.get("Error", {}).get("Message", ""))[:300]  # AWS's words, never the payload
    return ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "the service failed on this request", None, code, cause)


def _model_error(response: Mapping[str, Any]) -> ApiError:
    """A 502: for the container's 4xx, with its detail (its records are numbered from 0, as ours are)."""
    status = response.get("OriginalStatusCode")
    if not (isinstance(status, int) and 400 <= status < 500):
        return ApiError(HTTPStatus.BAD_GATEWAY, "the model failed on this request", None, "ModelError")
    try:
        document = json.loads(response.get("OriginalMessage") or "")
    except (ValueError, RecursionError):
        document = None
    detail = document.get("detail") if isinstance(document, dict) else None
    reason = detail[:500] if isinstance(detail, str) and detail else f"status {status}"
    return ApiError(HTTPStatus.BAD_GATEWAY, f"the model refused the flights: {reason}", None, "ModelError")


def parse_answer(raw: bytes, count: int) -> list[dict[str, Any]]:
    """The container's JSON answer as one result per flight; MalformedAnswer (502) for anything else."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise MalformedAnswer() from None
    predictions = document.get("predictions") if isinstance(document, dict) else None
    version = document.get("model_version") if isinstance(document, dict) else None
    if not isinstance(predictions, list) or len(predictions) != count or not isinstance(version, str):
        raise MalformedAnswer()
    return [_result(item, version) for item in predictions]


def _result(item: object, version: str) -> dict[str, Any]:
    """One flight's answer; probability and threshold rounded to DECIMALS (the label is the container's, from full
    precision)."""
    if not isinstance(item, dict) or item.get("prediction") not in LABELS:
        raise MalformedAnswer()
    probability, threshold = item.get("probability"), item.get("threshold")
    if _is_share(probability) and _is_share(threshold):
        return {
            "prediction": item["prediction"],
            "probability": round(float(probability), DECIMALS),
            "threshold": round(float(threshold), DECIMALS),
            "model_version": version,
        }
    raise MalformedAnswer()


def _is_share(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
