"""DataTable: a DynamoDB table with the durability and encryption a production service needs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest._validation import Problems
from lambda_manifest.compliance import Pack, acknowledge_all
from lambda_manifest.shared import StackResources


class DataTable(dynamodb.Table):
    """An on-demand DynamoDB table encrypted with the stack's KMS key, with point-in-time recovery, deletion
    protection, and a place in the stack's daily AWS Backup plan.

    It is an ``aws_dynamodb.Table``: grant, metric and pass it wherever CDK takes an ``ITable``. ``Table``
    rather than ``TableV2``, because ``TableV2`` cannot render a customer-managed key in an
    environment-agnostic stack.

    Parameters
    ----------
    partition_key:
        Required.
    sort_key:
        Default: - no sort key.
    time_to_live_attribute:
        Attribute holding an epoch-seconds expiry. Default: - no TTL.
    backup:
        Add the table to the stack's daily backup plan (35-day retention). Default: ``True``.
    no_backup_reason:
        Required with ``backup=False``: why this table's data needs no backup (for example, records that expire
        within the hour). It becomes the acknowledgement of the HIPAA/NIST DynamoDBInBackupPlan findings.
    removal_policy:
        Default: ``RemovalPolicy.RETAIN``, with deletion protection on.
    stream:
        Default: - no stream.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        partition_key: dynamodb.Attribute,
        sort_key: dynamodb.Attribute | None = None,
        time_to_live_attribute: str | None = None,
        backup: bool = defaults.TABLE_BACKUP.value,
        no_backup_reason: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        stream: dynamodb.StreamViewType | None = None,
    ) -> None:
        problems = Problems("DataTable", id)
        if not backup and not (no_backup_reason and len(no_backup_reason.strip()) >= 20):
            problems.add("no_backup_reason", "a sentence on why the data needs no backup when backup=False",
                         no_backup_reason, "explain it (e.g. 'records expire after one hour'), or keep backup=True")
        if backup and no_backup_reason:
            problems.add("no_backup_reason", "used only with backup=False", no_backup_reason, "drop it")
        problems.raise_if_any()

        shared = StackResources.of(scope)
        retained = removal_policy == cdk.RemovalPolicy.RETAIN
        super().__init__(
            scope,
            id,
            partition_key=partition_key,
            sort_key=sort_key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=shared.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=time_to_live_attribute,
            deletion_protection=retained,
            removal_policy=removal_policy,
            stream=stream,
        )
        if backup:
            shared.back_up_table(self)
        else:
            assert no_backup_reason is not None
            acknowledge_all(
                self,
                [(Pack.HIPAA_SECURITY, "HIPAA.Security-DynamoDBInBackupPlan"),
                 (Pack.NIST_800_53_R5, "NIST.800.53.R5-DynamoDBInBackupPlan")],
                f"{self.node.path}: {no_backup_reason} Point-in-time recovery is on.",
            )
