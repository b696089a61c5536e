"""What every ObservedFunction gets besides the function: its on-failure queue, VPC networking, and the
cdk-nag and Checkov acknowledgements of the findings it causes, each with its reason."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs

from lambda_manifest import _defaults as defaults
from lambda_manifest.compliance import Pack, acknowledge, acknowledge_checkov, acknowledge_groups


def failure_queue(function: lambda_.Function, key: kms.IKey) -> sqs.Queue:
    """The encrypted on-failure queue of an asynchronously invoked function."""
    queue = sqs.Queue(
        function,
        "OnFailureQueue",
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=cdk.Duration.days(defaults.ASYNC_DLQ_RETENTION_DAYS.value),
    )
    reason = (
        f"This queue is the on-failure destination of {function.node.path}: it is itself the dead-letter store "
        "for failed asynchronous events, so giving it a DLQ of its own would only move the problem."
    )
    acknowledge(queue, Pack.AWS_SOLUTIONS, "AwsSolutions-SQS3", reason)
    acknowledge(queue, Pack.SERVERLESS, "Serverless-SQSRedrivePolicy", reason)
    return queue


def grant_vpc_networking(policy: iam.ManagedPolicy) -> None:
    """What Lambda needs of the execution role to place a function in a VPC."""
    statement = iam.PolicyStatement(
        actions=[
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ],
        resources=["*"],
    )
    policy.add_statements(statement)


def acknowledge_function(
    function: lambda_.Function,
    policy: iam.ManagedPolicy,
    path: str,
    *,
    async_invocation: bool,
    reserved: int | None,
    vpc: ec2.IVpc | None,
) -> None:
    """The findings an ObservedFunction acknowledges, each on the resource that causes it, with its reason."""
    resource = function.node.default_child
    assert resource is not None
    groups: list[tuple[list[tuple[Pack, str]], str]] = []
    dlq_rules = [(Pack.SERVERLESS, "Serverless-LambdaDLQ"), (Pack.HIPAA_SECURITY, "HIPAA.Security-LambdaDLQ"),
                 (Pack.NIST_800_53_R5, "NIST.800.53.R5-LambdaDLQ")]
    if async_invocation:
        groups.append((
            dlq_rules,
            f"{path} sends failed asynchronous events to an on-failure destination, which "
            "receives the event together with the error: a superset of a DeadLetterConfig, and having both "
            "would deliver every failure twice.",
        ))
    if not async_invocation:
        groups.append((
            dlq_rules,
            f"{path} is invoked synchronously (API Gateway or an event source mapping): the caller "
            "receives every error, so a DLQ would never receive an event. Pass async_invocation=True for "
            "asynchronous use and an on-failure destination is created.",
        ))
    if reserved is None:
        groups.append((
            [(Pack.HIPAA_SECURITY, "HIPAA.Security-LambdaConcurrency"),
             (Pack.NIST_800_53_R5, "NIST.800.53.R5-LambdaConcurrency")],
            f"{path} uses the account's unreserved pool: reserving concurrency by default would "
            "fail deploys in accounts with a low limit. Set reserved_concurrent_executions to cap it.",
        ))
    if vpc is None:
        groups.append((
            [(Pack.HIPAA_SECURITY, "HIPAA.Security-LambdaInsideVPC"),
             (Pack.NIST_800_53_R5, "NIST.800.53.R5-LambdaInsideVPC"),
             (Pack.PCI_DSS_321, "PCI.DSS.321-LambdaInsideVPC")],
            f"{path} reaches only AWS APIs over TLS with IAM auth and no private network "
            "resources. Pass vpc= (with vpc_subnets/security_groups) to place it in a VPC.",
        ))
    acknowledge_groups(resource, groups)
    xray_reason = (
        "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so the "
        "statement must name Resource '*' (see the X-Ray IAM docs)."
    )
    if vpc is not None:
        xray_reason += (" The EC2 network-interface actions Lambda needs for VPC placement are likewise "
                        "not scoped to resources.")
        acknowledge_checkov(
            policy, "CKV_AWS_111",
            f"Lambda creates and deletes the network interfaces of {path} in its VPC subnets with the "
            "execution role; ec2:CreateNetworkInterface/DeleteNetworkInterface/Assign/UnassignPrivateIpAddresses "
            "are granted on Resource '*' exactly as AWSLambdaVPCAccessExecutionRole does, and the function's "
            "code is the only other user of the role.",
        )
    acknowledge(policy, Pack.AWS_SOLUTIONS, "AwsSolutions-IAM5[Resource::*]", xray_reason)
