"""Run the stacks of a CDK cloud assembly on localhost, without Docker and without an AWS account.

``python -m lambda_manifest.local`` (or ``make local``) synthesizes when ``cdk.out`` is stale, starts a
moto server on loopback, creates the template's tables, queues, topics, secrets, buckets and rules in it,
runs every Lambda function from its asset (or source) folder in worker processes, serves each HTTP and REST
API on its own port, and polls the SQS event source mappings. It reads only ``cdk.out``, so it runs any app
built from these constructs, or from plain aws-cdk-lib.

``python -m lambda_manifest.local.rehearse`` runs the real ``cdk bootstrap`` and ``cdk deploy --all``
against a moto server instead: a deploy rehearsal.
"""

from lambda_manifest.local.runner import LocalRunner, Options

__all__ = ["LocalRunner", "Options"]
