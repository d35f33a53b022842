"""The API Gateway HTTP API: POST /predict -> the Lambda (AWS_PROXY, payload 2.0), CORS, a throttled stage.

The Lambda may be invoked by this API's POST /predict route only
(add_permission with the route's source ARN).
"""

from __future__ import annotations

import json
from typing import Any

from deploy.aws.config import Config
from deploy.aws.names import ROUTE_KEY, STAGE, Names, belongs
from deploy.aws.session import Context, absent_on, differs

INTEGRATION_TIMEOUT_MS = 30_000  # the most an HTTP API waits; the function's own timeout is shorter


def cors_configuration(config: Config) -> dict[str, Any]:
    """API Gateway answers CORS preflights itself and adds the headers to every response."""
    return {
        "AllowOrigins": [config.api.cors_allow_origin],
        "AllowMethods": ["OPTIONS", "POST"],
        "AllowHeaders": ["authorization", "content-type", "x-api-key"],
        "MaxAge": 600,
    }


def api_request(names: Names, config: Config) -> dict[str, Any]:
    """CreateApi."""
    return {
        "Name": names.api,
        "ProtocolType": "HTTP",
        "CorsConfiguration": cors_configuration(config),
        "Description": f"delaycast stack {names.stack}: POST /predict",
        "Tags": names.tags,
    }


def integration_request(function_arn: str) -> dict[str, Any]:
    """CreateIntegration: Lambda proxy, payload format 2.0."""
    return {
        "IntegrationType": "AWS_PROXY",
        "IntegrationUri": function_arn,
        "IntegrationMethod": "POST",
        "PayloadFormatVersion": "2.0",
        "TimeoutInMillis": INTEGRATION_TIMEOUT_MS,
    }


def route_request(integration_id: str) -> dict[str, Any]:
    """CreateRoute: POST /predict to the integration."""
    return {"RouteKey": ROUTE_KEY, "AuthorizationType": "NONE", "Target": f"integrations/{integration_id}"}


def stage_request(names: Names, config: Config) -> dict[str, Any]:
    """CreateStage: the $default stage (no stage in the URL), deployed on every change, throttled."""
    return {
        "StageName": STAGE,
        "AutoDeploy": True,
        "DefaultRouteSettings": {
            "ThrottlingBurstLimit": config.api.throttle_burst,
            "ThrottlingRateLimit": config.api.throttle_rate,
        },
        "Tags": names.tags,
    }


def permission_request(names: Names, api_id: str) -> dict[str, Any]:
    """AddPermission: API Gateway may invoke the function, from this API's POST /predict only."""
    return {
        "FunctionName": names.function,
        "StatementId": f"{names.stack}-http-api",
        "Action": "lambda:InvokeFunction",
        "Principal": "apigateway.amazonaws.com",
        "SourceArn": names.api_source_arn(api_id),
    }


def ensure_api(ctx: Context, function_arn: str) -> str:
    """The HTTP API with its integration, route, stage and permission, created or corrected; the invoke URL."""
    api = _ensure_api(ctx)
    api_id = api["ApiId"]
    integration_id = _ensure_integration(ctx, api_id, function_arn)
    _ensure_route(ctx, api_id, integration_id)
    _ensure_stage(ctx, api_id)
    _ensure_permission(ctx, api_id)
    return f"{api['ApiEndpoint']}/predict"


def find_apis(ctx: Context) -> list[dict[str, Any]]:
    """The HTTP APIs tagged as this stack's."""
    pages = ctx.client("apigatewayv2").get_paginator("get_apis").paginate()
    return [api for page in pages for api in page["Items"] if belongs(api.get("Tags", {}), ctx.names.stack)]


def _ensure_api(ctx: Context) -> dict[str, Any]:
    apigw = ctx.client("apigatewayv2")
    request = api_request(ctx.names, ctx.config)
    found = [api for api in find_apis(ctx) if api["Name"] == request["Name"]]
    if not found:
        api = apigw.create_api(**request)
        ctx.report("created", "HTTP API", request["Name"], api["ApiEndpoint"])
        return dict(api)
    api = found[0]
    changed = differs(request["CorsConfiguration"], api.get("CorsConfiguration"))
    if changed:
        apigw.update_api(ApiId=api["ApiId"], CorsConfiguration=request["CorsConfiguration"])
    ctx.report("updated" if changed else "unchanged", "HTTP API", request["Name"], api["ApiEndpoint"])
    return api


def _ensure_integration(ctx: Context, api_id: str, function_arn: str) -> str:
    apigw = ctx.client("apigatewayv2")
    request = integration_request(function_arn)
    found = [i for i in apigw.get_integrations(ApiId=api_id)["Items"] if i.get("IntegrationUri") == function_arn]
    if not found:
        created = apigw.create_integration(ApiId=api_id, **request)
        ctx.report("created", "API integration", created["IntegrationId"], "AWS_PROXY, payload 2.0")
        return str(created["IntegrationId"])
    integration_id = str(found[0]["IntegrationId"])
    changed = differs(request, found[0])
    if changed:
        apigw.update_integration(ApiId=api_id, IntegrationId=integration_id, **request)
    ctx.report("updated" if changed else "unchanged", "API integration", integration_id, "AWS_PROXY, payload 2.0")
    return integration_id


def _ensure_route(ctx: Context, api_id: str, integration_id: str) -> None:
    apigw = ctx.client("apigatewayv2")
    request = route_request(integration_id)
    found = [route for route in apigw.get_routes(ApiId=api_id)["Items"] if route["RouteKey"] == ROUTE_KEY]
    if not found:
        apigw.create_route(ApiId=api_id, **request)
        ctx.report("created", "API route", ROUTE_KEY)
        return
    changed = differs(request, found[0])
    if changed:
        apigw.update_route(ApiId=api_id, RouteId=found[0]["RouteId"], **request)
    ctx.report("updated" if changed else "unchanged", "API route", ROUTE_KEY)


def _ensure_stage(ctx: Context, api_id: str) -> None:
    apigw = ctx.client("apigatewayv2")
    request = stage_request(ctx.names, ctx.config)
    limits = request["DefaultRouteSettings"]
    detail = f"burst {limits['ThrottlingBurstLimit']}, {limits['ThrottlingRateLimit']:g} requests/s"
    found = absent_on(("NotFoundException",), lambda: apigw.get_stage(ApiId=api_id, StageName=STAGE))
    if found is None:
        apigw.create_stage(ApiId=api_id, **request)
        ctx.report("created", "API stage", STAGE, detail)
        return
    settings = {key: request[key] for key in ("AutoDeploy", "DefaultRouteSettings")}
    changed = differs(settings, found)
    if changed:
        apigw.update_stage(ApiId=api_id, StageName=STAGE, **settings)
    ctx.report("updated" if changed else "unchanged", "API stage", STAGE, detail)


def _ensure_permission(ctx: Context, api_id: str) -> None:
    lam = ctx.client("lambda")
    request = permission_request(ctx.names, api_id)
    policy = absent_on(("ResourceNotFoundException",), lambda: lam.get_policy(FunctionName=request["FunctionName"]))
    statements = json.loads(policy["Policy"])["Statement"] if policy else []
    current = next((s for s in statements if s.get("Sid") == request["StatementId"]), None)
    source = current and current.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
    if source == request["SourceArn"]:
        ctx.report("unchanged", "Lambda permission", request["StatementId"], request["SourceArn"])
        return
    if current is not None:
        lam.remove_permission(FunctionName=request["FunctionName"], StatementId=request["StatementId"])
    lam.add_permission(**request)
    ctx.report(
        "created" if current is None else "updated", "Lambda permission", request["StatementId"], request["SourceArn"]
    )
