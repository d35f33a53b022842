"""python -m deploy.aws {deploy,plan,teardown,batch}: the command line.

Settings come from deploy/aws/defaults.toml, then --config FILE, then
--set SECTION.KEY=VALUE, then the named flags; credentials from boto3's standard
chain (environment, AWS_PROFILE and ~/.aws, SSO, instance or task role).
--dry-run (and `plan`) prints what would be done and calls no AWS API.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from delaycast.errors import ConfigError, DelaycastError
from deploy.aws import stack
from deploy.aws.artifacts import REPO, Revision, git_revision
from deploy.aws.batch import transform_job_name
from deploy.aws.config import Config, load_config
from deploy.aws.image import DockerPusher, Pusher
from deploy.aws.names import STACK_TAG, Names
from deploy.aws.plan import batch_plan, deploy_plan, print_plan, teardown_plan
from deploy.aws.session import Aws, Context, Report, failure
from deploy.aws.teardown import teardown


@dataclass(frozen=True)
class Services:
    """What the commands use from outside: AWS, docker, git, the clock. Tests replace them."""

    aws: Callable[[Config], Aws] = lambda config: Aws(boto3.Session(region_name=config.region))
    pusher: Pusher = field(default_factory=DockerPusher)
    revision: Callable[[], Revision] = git_revision
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    confirm: Callable[[str], str] = input


def parser() -> argparse.ArgumentParser:
    """The argument parser: common options on every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="a TOML file shaped like deploy/aws/defaults.toml")
    common.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="e.g. endpoint.serverless.memory_mb=3072"
    )
    common.add_argument("--region", help="AWS region (default us-east-1)")
    common.add_argument("--stack", help="prefix of every name and value of the delaycast:stack tag (default delaycast)")
    common.add_argument("--model-dir", help="the trained model directory (default build/ml/model)")
    common.add_argument("--mode", choices=("serverless", "instance"), help="endpoint variant (default serverless)")
    common.add_argument("--image-uri", help="an image already in ECR: skips docker build and push")
    common.add_argument("--dry-run", action="store_true", help="print the plan; call no AWS API")
    main_parser = argparse.ArgumentParser(
        prog="python -m deploy.aws", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = main_parser.add_subparsers(dest="command", required=True)
    commands.add_parser("deploy", parents=[common], help="create or update the stack, print the invoke URL")
    commands.add_parser("plan", parents=[common], help="the same as deploy --dry-run")
    down = commands.add_parser("teardown", parents=[common], help="delete everything tagged with the stack")
    down.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    batch = commands.add_parser("batch", parents=[common], help="a Batch Transform job over an S3 prefix of CSV")
    batch.add_argument("--input", help="s3://bucket/prefix/ of headerless CSV (default s3://<bucket>/batch/input/)")
    batch.add_argument("--output", help="s3://bucket/prefix/ for the results (default s3://<bucket>/batch/output/)")
    batch.add_argument("--wait", action="store_true", help="wait for the job to finish")
    return main_parser


def flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The named flags as a settings mapping shaped like defaults.toml."""
    flat = {
        "region": args.region,
        "stack": args.stack,
        "model_dir": args.model_dir,
        "endpoint.mode": args.mode,
        "image.uri": args.image_uri,
        "batch.input": getattr(args, "input", None),
        "batch.output": getattr(args, "output", None),
    }
    settings: dict[str, Any] = {}
    for key, value in flat.items():
        if value is not None:
            section, _, name = key.rpartition(".")
            (settings.setdefault(section, {}) if section else settings)[name] = value
    return settings


def main(argv: Sequence[str] | None = None, services: Services | None = None, out: TextIO = sys.stdout) -> int:
    """Run one command; 0 on success, 1 when AWS or a step fails, 2 for bad settings."""
    args = parser().parse_args(argv)
    services = services or Services()
    try:
        config = load_config(args.config, args.set, flag_settings(args), REPO)
        return run(args, config, services, out)
    except ConfigError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 2
    except (DelaycastError, ClientError, BotoCoreError) as error:
        print(f"error: {failure(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\ninterrupted: what was started goes on in AWS; run the command again to pick up from there",
            file=sys.stderr,
        )
        return 130


def run(args: argparse.Namespace, config: Config, services: Services, out: TextIO) -> int:
    """Dispatch to the command."""
    if args.command == "teardown":
        return _teardown(args, config, services, out)
    artifacts = stack.build_artifacts(config)
    revision = Revision("<revision>", False) if config.image_uri else services.revision()
    if args.command == "batch":
        return _batch(args, config, services, out, artifacts, revision)
    if args.dry_run or args.command == "plan":
        names = Names.of(config)
        print_plan(deploy_plan(config, names, artifacts, revision), names, "deploy", out)
        return 0
    ctx = _context(config, services, out)
    url = stack.deploy(ctx, artifacts, revision, services.pusher)
    changes = len(ctx.report.changed)
    print(f"\n{changes or 'no'} change{'s' * (changes != 1)}. POST {url}", file=out)
    return 0


def _batch(
    args: argparse.Namespace,
    config: Config,
    services: Services,
    out: TextIO,
    artifacts: stack.Artifacts,
    revision: Revision,
) -> int:
    job = transform_job_name(Names.of(config), services.now())
    if args.dry_run:
        names = Names.of(config)
        print_plan(batch_plan(config, names, artifacts, revision, job), names, "batch", out)
        return 0
    ctx = _context(config, services, out)
    stack.batch(ctx, artifacts, revision, services.pusher, job, args.wait)
    print(f"\nresults under {ctx.names.batch_locations(config.batch)[1].uri}{job}/", file=out)
    return 0


def _confirmed(services: Services, question: str, stack_name: str) -> bool:
    try:
        return services.confirm(f"{question} type the stack name to confirm: ").strip() == stack_name
    except EOFError:
        return False


def _context(config: Config, services: Services, out: TextIO) -> Context:
    aws = services.aws(config)
    account, partition = aws.identity()
    names = Names.of(config, account, partition)
    print(f"stack {config.stack!r} in {config.region}, account {account}", file=out)
    return Context(config, names, aws, Report(out), services.sleep)


def _teardown(args: argparse.Namespace, config: Config, services: Services, out: TextIO) -> int:
    if args.dry_run:
        names = Names.of(config)
        print_plan(teardown_plan(names), names, "teardown", out)
        return 0
    ctx = _context(config, services, out)
    tag = f"{STACK_TAG}={config.stack}"
    if not args.yes and not _confirmed(services, f"delete everything tagged {tag} in {config.region}?", config.stack):
        print("nothing deleted", file=out)
        return 1
    count = teardown(ctx)
    print(
        f"\n{count} resource{'s' * (count != 1)} deleted or stopped"
        if count
        else f"\nnothing tagged {tag} in {config.region}",
        file=out,
    )
    return 0
