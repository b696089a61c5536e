"""NightlyReportStack: a scheduled batch job that writes yesterday's sales report to an encrypted bucket.

EventBridge fires at 02:00 UTC and invokes the report function asynchronously; failed runs are retried
twice by Lambda and then land, with their error, in the function's on-failure queue (which alarms).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambda_manifest import (
    DataTable,
    ObservedFunction,
    Pack,
    StackResources,
    acknowledge,
    acknowledge_checkov,
)
from stacks.code import app_code


class NightlyReportStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        key = StackResources.of(self).key

        self.sales = DataTable(
            self,
            "SalesTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        )
        self.sales_table = self.sales

        self.access_logs = s3.Bucket(
            self,
            "ReportAccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Logs are kept a year; an overwritten or expired log version is gone a month later, and uploads
            # S3 never finished are cleaned up after a day.
            lifecycle_rules=[s3.LifecycleRule(
                id="ExpireAccessLogs",
                expiration=cdk.Duration.days(365),
                noncurrent_version_expiration=cdk.Duration.days(30),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
            )],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.reports = s3.Bucket(
            self,
            "Reports",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="reports/",
            # Each day's report has its own keys; a re-run for the same day replaces them. Replaced versions go
            # after the 35 days the sales table's backups cover, and unfinished uploads after a day.
            lifecycle_rules=[s3.LifecycleRule(
                id="ExpireReplacedReports",
                noncurrent_version_expiration=cdk.Duration.days(35),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
            )],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        self.job = ObservedFunction(
            self,
            "NightlyReport",
            handler="nightly_report.handler.main",
            code=app_code("nightly_report"),
            description="Aggregates yesterday's sales into CSV and JSON in the reports bucket",
            timeout=cdk.Duration.minutes(5),
            memory_size=512,
            async_invocation=True,
            powertools=False,
            environment={
                "SALES_TABLE_NAME": self.sales_table.table_name,
                "REPORT_BUCKET_NAME": self.reports.bucket_name,
                "REPORT_PREFIX": "reports/sales",
            },
        )
        self.sales_table.grant_read_data(self.job)
        self.reports.grant_put(self.job)

        self.schedule = self.job.add_schedule(
            "Schedule", events.Schedule.cron(minute="0", hour="2"), description="Nightly sales report at 02:00 UTC"
        )
        self._acknowledge()
        cdk.CfnOutput(self, "ReportBucket", value=self.reports.bucket_name)
        cdk.CfnOutput(self, "ReportFunction", value=self.job.function_name)

    def _acknowledge(self) -> None:
        for bucket, why in (
            (self.reports, "Every report is regenerated on demand from the sales table, which has "
                           "point-in-time recovery and a daily AWS Backup plan, so a cross-region replica "
                           "would add cost without adding recoverability."),
            (self.access_logs, "Server access logs are an audit trail kept for 365 days in a versioned, "
                               "TLS-only bucket in the same account; losing a region also loses the bucket they "
                               "describe."),
        ):
            for pack in (Pack.HIPAA_SECURITY, Pack.NIST_800_53_R5, Pack.PCI_DSS_321):
                acknowledge(bucket, pack, f"{pack.value}-S3BucketReplicationEnabled", why)
        acknowledge_checkov(
            self.access_logs, "CKV_AWS_18",
            "This bucket is the server access log target of the Reports bucket; logging a log bucket would "
            "write a log record for every log delivery, and AWS advises against a bucket logging into itself.",
        )
        for pack in (Pack.HIPAA_SECURITY, Pack.NIST_800_53_R5, Pack.PCI_DSS_321):
            acknowledge(
                self.access_logs, pack, f"{pack.value}-S3DefaultEncryptionKMS",
                "S3 delivers server access logs only to buckets encrypted with SSE-S3 (AES-256); a KMS "
                "default would make log delivery fail.",
            )
