"""The Lambda function behind the API: its code and its configuration.

The zip holds lambda/delaycast_api and the pure-Python part of delaycast; the
function needs nothing beyond the runtime's boto3. Code is replaced only when
the zip's SHA-256 differs, configuration only when a setting does.
"""

from __future__ import annotations

from typing import Any

from deploy.aws.artifacts import LambdaPackage
from deploy.aws.config import Config
from deploy.aws.names import Names
from deploy.aws.session import Context, absent_on, differs, retry_while, role_not_ready

RUNTIME = "python3.11"
HANDLER = "delaycast_api.handler.lambda_handler"
CONFIGURATION_KEYS = ("Runtime", "Handler", "Role", "Timeout", "MemorySize", "Environment", "Description")


def function_environment(names: Names, config: Config) -> dict[str, str]:
    """The handler's settings (delaycast_api.settings.Settings.from_env); Lambda sets AWS_REGION itself."""
    return {
        "ENDPOINT_NAME": names.endpoint,
        "CORS_ALLOW_ORIGIN": config.api.cors_allow_origin,
        "MAX_BATCH": str(config.function.max_batch),
        "ENDPOINT_TIMEOUT_SECONDS": str(config.function.endpoint_timeout_seconds),
        "DELAYCAST_FLIGHT_TABLE": names.flight_table,
    }


def function_request(names: Names, config: Config, role_arn: str) -> dict[str, Any]:
    """CreateFunction without the code."""
    return {
        "FunctionName": names.function,
        "Runtime": RUNTIME,
        "Handler": HANDLER,
        "Role": role_arn,
        "Timeout": config.function.timeout_seconds,
        "MemorySize": config.function.memory_mb,
        "Architectures": [config.function.architecture],
        "Environment": {"Variables": function_environment(names, config)},
        "Description": f"delaycast stack {names.stack}: validates flights, scores them on endpoint {names.endpoint}",
        "Tags": names.tags,
    }


def ensure_function(ctx: Context, request: dict[str, Any], package: LambdaPackage) -> str:
    """Create the function, or update what differs (configuration, code, tags); its ARN."""
    lam = ctx.client("lambda")
    name = request["FunctionName"]
    found = absent_on(("ResourceNotFoundException",), lambda: lam.get_function(FunctionName=name))
    if found is None:
        code = {"ZipFile": package.path.read_bytes()}
        created = retry_while(ctx, lambda: lam.create_function(Code=code, **request), role_not_ready, f"create {name}")
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        ctx.report("created", "Lambda function", name, f"{RUNTIME}, {request['Timeout']} s, code {package.code_sha256}")
        return str(created["FunctionArn"])
    changed = [
        _update_configuration(ctx, request, found["Configuration"]),
        _update_code(ctx, request, found["Configuration"], package),
        _update_tags(ctx, request, found),
    ]
    ctx.report("updated" if any(changed) else "unchanged", "Lambda function", name, f"code {package.code_sha256}")
    return str(found["Configuration"]["FunctionArn"])


def _update_configuration(ctx: Context, request: dict[str, Any], current: dict[str, Any]) -> bool:
    desired = {key: request[key] for key in CONFIGURATION_KEYS}
    if not differs(desired, current):
        return False
    lam = ctx.client("lambda")
    retry_while(
        ctx,
        lambda: lam.update_function_configuration(FunctionName=request["FunctionName"], **desired),
        role_not_ready,
        f"configure {request['FunctionName']}",
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=request["FunctionName"])
    return True


def _update_code(ctx: Context, request: dict[str, Any], current: dict[str, Any], package: LambdaPackage) -> bool:
    if current["CodeSha256"] == package.code_sha256 and current.get("Architectures") == request["Architectures"]:
        return False
    lam = ctx.client("lambda")
    lam.update_function_code(
        FunctionName=request["FunctionName"], ZipFile=package.path.read_bytes(), Architectures=request["Architectures"]
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=request["FunctionName"])
    return True


def _update_tags(ctx: Context, request: dict[str, Any], current: dict[str, Any]) -> bool:
    if not differs(request["Tags"], current.get("Tags", {})):
        return False
    ctx.client("lambda").tag_resource(Resource=current["Configuration"]["FunctionArn"], Tags=request["Tags"])
    return True
