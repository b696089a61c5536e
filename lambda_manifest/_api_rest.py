"""REST-only pieces of ServerlessApi: the WAF web ACL, the account-level CloudWatch role, method settings."""

from __future__ import annotations

from aws_cdk import ArnFormat, Names, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from lambda_manifest.compliance import Pack, acknowledge

# AWS managed rule groups every public REST API should start with (the three; all free of WCU
# surprises: 700 + 200 + 25 of the web ACL's 1,500 included capacity units).
MANAGED_RULE_GROUPS = (
    ("AWSManagedRulesCommonRuleSet", "Common"),
    ("AWSManagedRulesKnownBadInputsRuleSet", "KnownBadInputs"),
    ("AWSManagedRulesAmazonIpReputationList", "IpReputation"),
)
# Credentials never reach the WAF log.
REDACTED_HEADERS = ("authorization", "x-api-key", "cookie")


def managed_web_acl(
    scope: Construct, *, retention: logs.RetentionDays, key: kms.IKey
) -> tuple[wafv2.CfnWebACL, logs.LogGroup]:
    """A regional web ACL with the AWS managed rule groups, logging to an encrypted ``aws-waf-logs-*`` group."""
    metric_prefix = Names.unique_id(scope)[-64:]

    def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=f"{metric_prefix}-{name}", sampled_requests_enabled=True
        )

    rules = [
        wafv2.CfnWebACL.RuleProperty(
            name=short,
            priority=priority,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=group
                )
            ),
            visibility_config=visibility(short),
        )
        for priority, (group, short) in enumerate(MANAGED_RULE_GROUPS)
    ]
    acl = wafv2.CfnWebACL(
        scope,
        "WebAcl",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=visibility("WebAcl"),
        rules=rules,
        description=f"Protects {scope.node.path}: AWS managed common, known-bad-inputs and IP-reputation rules",
    )
    log_group = logs.LogGroup(
        scope,
        "WafLogs",
        log_group_name="aws-waf-logs-" + Names.unique_resource_name(scope, max_length=80, separator="-"),
        retention=retention,
        encryption_key=key,
        removal_policy=RemovalPolicy.RETAIN,
    )
    destination = Stack.of(scope).format_arn(
        service="logs", resource="log-group", resource_name=log_group.log_group_name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    logging = wafv2.CfnLoggingConfiguration(
        scope,
        "WafLogging",
        resource_arn=acl.attr_arn,
        log_destination_configs=[destination],
        redacted_fields=[
            wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
            for header in REDACTED_HEADERS
        ],
    )
    logging.node.add_dependency(log_group)
    return acl, log_group


def account_cloud_watch_role(scope: Construct) -> apigateway.CfnAccount:
    """The account-level role API Gateway uses to write execution logs, without AWS-managed policies.

    It is scoped to API Gateway's execution-log groups; ``logs:DescribeLogGroups`` is a list action that
    takes no resource.
    """
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "CloudWatchRole",
        assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
        description="Lets API Gateway write REST execution logs in this account and region",
    )
    groups = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:API-Gateway-Execution-Logs_*"
    policy = iam.ManagedPolicy(
        scope,
        "CloudWatchRolePolicy",
        description="API Gateway execution logging (account-level role)",
        statements=[
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams",
                         "logs:PutLogEvents", "logs:GetLogEvents", "logs:FilterLogEvents"],
                resources=[groups, f"{groups}:*"],
            ),
            iam.PolicyStatement(actions=["logs:DescribeLogGroups"], resources=["*"]),
        ],
    )
    role.add_managed_policy(policy)
    acknowledge(
        policy, Pack.AWS_SOLUTIONS, "AwsSolutions-IAM5[Resource::*]",
        "logs:DescribeLogGroups is a list action without resource-level permissions; every other action of "
        "this account-level API Gateway role is scoped to the API-Gateway-Execution-Logs_* log groups.",
    )
    wildcard = (
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:API-Gateway-Execution-Logs_*"
    )
    for resource in (wildcard, f"{wildcard}:*"):
        acknowledge(
            policy, Pack.AWS_SOLUTIONS, f"AwsSolutions-IAM5[Resource::{resource}]",
            "The account-level API Gateway CloudWatch role serves every REST API in the account and region, "
            "whose execution-log groups are all named API-Gateway-Execution-Logs_<api id>/<stage>.",
        )
    account = apigateway.CfnAccount(scope, "Account", cloud_watch_role_arn=role.role_arn)
    account.node.add_dependency(policy)
    # Deleting the stack must not unset a role other APIs in the account rely on.
    account.apply_removal_policy(RemovalPolicy.RETAIN)
    return account


def method_setting_path(path: str) -> str:
    """The ``ResourcePath`` of a stage method setting: ``/items/{id}`` -> ``/~1items~1{id}``."""
    if path == "/":
        return "/"
    return "/" + path.replace("/", "~1")
