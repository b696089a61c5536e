"""Per-stack resources every construct shares: one KMS key, one alarm topic, one dashboard, one backup plan.

``StackResources.of(scope)`` returns the stack's single instance, creating it on first use under the stack
with the id ``LambdaManifestShared``. Ten constructs in one stack make one key, one topic and one dashboard,
not ten of each. Each piece is created only when a construct asks for it.

``StackResources`` is a public construct, so app code may use the key or topic for its own resources; it never
changes a resource it did not create.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

from lambda_manifest.compliance import Pack, acknowledge

SHARED_ID = "LambdaManifestShared"


class StackResources(Construct):
    """The stack-wide key, alarm topic and dashboard used by lambda-manifest constructs.

    Use :meth:`of` rather than the constructor. Attributes are created lazily, on first access.
    """

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self._key: kms.Key | None = None
        self._topic: sns.ITopic | None = None
        self._dashboard: cloudwatch.Dashboard | None = None
        self._backup_plan: backup.BackupPlan | None = None
        self._backup_role: iam.Role | None = None

    @staticmethod
    def of(scope: IConstruct) -> StackResources:
        """The shared resources of the stack that contains ``scope``."""
        stack = cdk.Stack.of(scope)
        existing = stack.node.try_find_child(SHARED_ID)
        if isinstance(existing, StackResources):
            return existing
        return StackResources(stack, SHARED_ID)

    @property
    def key(self) -> kms.Key:
        """A customer-managed KMS key with rotation, usable by CloudWatch Logs, SNS, SQS and CloudWatch."""
        if self._key is None:
            stack = cdk.Stack.of(self)
            key = kms.Key(
                self,
                "Key",
                description=f"Encrypts the logs, queues, topics and tables of {stack.stack_name}",
                enable_key_rotation=True,
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            # CloudWatch Logs encrypts with the key itself, so its regional principal needs the key, scoped to
            # log groups of this account and region.
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                    actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                    resources=["*"],
                    conditions={
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": (
                                f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"
                            )
                        }
                    },
                )
            )
            # CloudWatch alarms publish to the encrypted alarm topic, and EventBridge/SNS deliver to encrypted
            # queues: those services must be able to use the key to write.
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[
                        iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                        iam.ServicePrincipal("events.amazonaws.com"),
                        iam.ServicePrincipal("sns.amazonaws.com"),
                        iam.ServicePrincipal("s3.amazonaws.com"),
                    ],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
                )
            )
            self._key = key
        return self._key

    @property
    def alarm_topic(self) -> sns.ITopic:
        """The stack's alarm topic: KMS-encrypted with :attr:`key`, TLS-only."""
        if self._topic is None:
            self._topic = sns.Topic(
                self,
                "AlarmTopic",
                display_name="lambda-manifest alarms",
                master_key=self.key,
                enforce_ssl=True,
            )
        return self._topic

    @property
    def dashboard(self) -> cloudwatch.Dashboard:
        """The stack's dashboard; each construct adds one row of widgets."""
        if self._dashboard is None:
            stack = cdk.Stack.of(self)
            self._dashboard = cloudwatch.Dashboard(
                self,
                "Dashboard",
                dashboard_name=None if cdk.Token.is_unresolved(stack.stack_name) else f"{stack.stack_name}-service",
                period_override=cloudwatch.PeriodOverride.AUTO,
            )
        return self._dashboard

    @property
    def backup_plan(self) -> backup.BackupPlan:
        """A daily AWS Backup plan with 35-day retention, for every table a construct asks to back up."""
        if self._backup_plan is None:
            self._backup_plan = backup.BackupPlan.daily35_day_retention(self, "BackupPlan")
        return self._backup_plan

    @property
    def backup_role(self) -> iam.Role:
        """The one role AWS Backup assumes for every selection of :attr:`backup_plan`."""
        if self._backup_role is None:
            policy = "AWSBackupServiceRolePolicyForBackup"
            self._backup_role = iam.Role(
                self,
                "BackupRole",
                assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
                managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(f"service-role/{policy}")],
            )
            acknowledge(
                self._backup_role, Pack.AWS_SOLUTIONS,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{policy}]",
                f"{policy} is AWS Backup's documented service-role policy, kept current by AWS as services add "
                "backup APIs; this role can be assumed only by backup.amazonaws.com.",
            )
        return self._backup_role

    def back_up_table(self, table: dynamodb.ITable) -> backup.BackupSelection:
        """Add ``table`` to the stack's backup plan (one selection per table, all with the same role)."""
        # Named after the table's path, so adding or reordering tables never renames another's selection.
        return self.backup_plan.add_selection(
            f"Table{cdk.Names.node_unique_id(table.node)}",
            resources=[backup.BackupResource.from_dynamo_db_table(table)],
            role=self.backup_role,
        )
