"""The jobs service: POST /jobs queues a job, a worker runs it, GET /jobs/{job_id} reads the result; an LLM
gateway for the team's other services."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from lambda_manifest import (
    AiGatewayFunction,
    AsyncWorker,
    DataTable,
    FunctionOptions,
    HttpServerlessApi,
    ModelAlias,
    Pack,
    Price,
    Provider,
    StackResources,
    Target,
    acknowledge,
    python_code,
)

SRC = Path(__file__).resolve().parent.parent / "src"
PUBLIC = ("The jobs API of this example serves the team's internal tools on a private network path; it "
          "holds no personal data and is rate-limited by the stage throttle.")


class JobsService(cdk.Stack):
    def __init__(self, scope: Construct, id: str, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        code = python_code(SRC)  # Code.from_asset(SRC) plus bytecode for the python3.14 runtime

        self.jobs = DataTable(self, "Jobs", partition_key=dynamodb.Attribute(
            name="job_id", type=dynamodb.AttributeType.STRING))

        self.worker = AsyncWorker(self, "Worker", process="jobs.worker:process", code=code,
                                  function=FunctionOptions(environment={"JOBS_TABLE": self.jobs.table_name}))
        self.jobs.grant(self.worker, "dynamodb:PutItem")

        self.api = HttpServerlessApi(self, "Api", code=code)
        self.worker.add_api_route(self.api, "POST /jobs", public_reason=PUBLIC)
        status = self.api.add_route("GET /jobs/{job_id}", FunctionOptions(
            handler="api.status.main",
            environment={"JOBS_TABLE": self.jobs.table_name},
        ), public_reason=PUBLIC)
        assert status.function is not None
        self.jobs.grant(status.function, "dynamodb:GetItem")

        # The team's LLM gateway, and the provider key it reads: a resource of the team's own, under the same
        # compliance gate, with its own acknowledgement.
        self.model_key = secretsmanager.Secret(self, "ModelProviderKey", encryption_key=StackResources.of(self).key,
                                               description="API key of the team's model provider")
        reason = ("ModelProviderKey holds an API key that only the model provider can issue: rotate it in the "
                  "provider's console and put the new value here; no rotation Lambda can create one.")
        acknowledge(self.model_key, Pack.AWS_SOLUTIONS, "AwsSolutions-SMG4", reason)
        for pack in (Pack.HIPAA_SECURITY, Pack.NIST_800_53_R5, Pack.PCI_DSS_321):
            acknowledge(self.model_key, pack, f"{pack.value}-SecretsManagerRotationEnabled", reason)
        self.gateway = AiGatewayFunction(
            self, "Gateway",
            providers={"provider": Provider.openai_compatible(base_url="https://api.openai.com/v1",
                                                              secret=self.model_key)},
            models={"fast": ModelAlias(targets=[Target(provider="provider", model="gpt-4o-mini")])},
            prices={"provider/gpt-4o-mini": Price(input=0.15, output=0.60)},
        )
