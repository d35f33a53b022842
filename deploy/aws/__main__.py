"""python -m deploy.aws: see deploy/aws/cli.py."""

import sys

from deploy.aws.cli import main

sys.exit(main())
