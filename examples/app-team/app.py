#!/usr/bin/env python3
"""The app team's CDK app: one service, checked by all five cdk-nag packs."""

import aws_cdk as cdk
from lambda_manifest import ALL_PACKS, apply_compliance_packs

from infra.service import JobsService

app = cdk.App()
JobsService(app, "JobsService")
apply_compliance_packs(app, packs=ALL_PACKS)
app.synth()
