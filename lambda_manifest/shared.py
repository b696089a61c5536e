"""Per-stack resources every construct shares: one KMS key, one alarm topic, one dashboard, one backup plan.

``StackResources.of(scope)`` returns the stack's single instance, creating it on first use under the stack
with the id ``LambdaManifestShared``. Ten constructs in one stack make one key, one topic and one dashboard,
not ten of each. Each piece is created only when a construct asks for it.

``StackResources`` is a public construct, so app code may use the key or topic for its own resources; it never
changes a resource it did not create.

Who receives the alarms: :meth:`StackResources.subscribe_alarms` (e-mail, an HTTPS endpoint such as a paging
service, an SQS queue or a Lambda function), or the context keys ``alarmEmail`` and ``alarmUrl``
(``cdk deploy -c alarmEmail=oncall@example.com``; several values separated by commas).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Sequence

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from lambda_manifest import _defaults as defaults
from lambda_manifest import monitoring
from lambda_manifest._validation import Problems, is_token
from lambda_manifest.compliance import Pack, acknowledge

SHARED_ID = "LambdaManifestShared"
# Context keys read when the alarm topic is created: `-c alarmEmail=a@example.com,b@example.com`.
ALARM_EMAIL_CONTEXT = "alarmEmail"
ALARM_URL_CONTEXT = "alarmUrl"
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


# StackResources.of's answers per stack object (weakly held, by identity; see there).
_BY_STACK: weakref.WeakKeyDictionary[cdk.Stack, StackResources] = weakref.WeakKeyDictionary()


class StackResources(Construct):
    """The stack-wide key, alarm topic and dashboard used by lambda-manifest constructs.

    Use :meth:`of` rather than the constructor. Attributes are created lazily, on first access.
    """

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self._key: kms.Key | None = None
        self._name: str | None = None
        self._topic: sns.ITopic | None = None
        self._dashboard: cloudwatch.Dashboard | None = None
        self._backup_plan: backup.BackupPlan | None = None
        self._backup_vault: backup.BackupVault | None = None
        self._backup_role: iam.Role | None = None
        self._subscribed: set[str] = set()

    @staticmethod
    def of(scope: IConstruct) -> StackResources:
        """The shared resources of the stack that contains ``scope``."""
        # Every construct of the library asks for these, and each jsii read is a round trip to Node: a stack
        # passed as the scope is used as is, and the answer is remembered per stack object.
        stack = scope if isinstance(scope, cdk.Stack) else cdk.Stack.of(scope)
        resources = _BY_STACK.get(stack)
        if resources is None:
            existing = stack.node.try_find_child(SHARED_ID)
            resources = existing if isinstance(existing, StackResources) else StackResources(stack, SHARED_ID)
            _BY_STACK[stack] = resources
        return resources

    @property
    def _stack_name(self) -> str:
        """The stack's name, read from Node once (the key and the dashboard both name it)."""
        if self._name is None:
            self._name = cdk.Stack.of(self).stack_name
        return self._name

    @property
    def key(self) -> kms.Key:
        """A customer-managed KMS key with rotation, usable by CloudWatch Logs, SNS, SQS and CloudWatch."""
        if self._key is None:
            stack = cdk.Stack.of(self)
            key = kms.Key(
                self,
                "Key",
                description=f"Encrypts the logs, queues, topics and tables of {self._stack_name}",
                enable_key_rotation=True,
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            # Both statements are given as IAM JSON: one round trip to Node each, where principal and statement
            # objects would take eight more.
            region, account = stack.region, stack.account
            # CloudWatch Logs encrypts with the key itself, so its regional principal needs the key, scoped to
            # log groups of this account and region.
            key.add_to_resource_policy(iam.PolicyStatement.from_json({
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {"ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{stack.partition}:logs:{region}:{account}:*"}},
            }))
            # CloudWatch alarms publish to the encrypted alarm topic, and EventBridge/SNS deliver to encrypted
            # queues: those services must be able to use the key to write.
            key.add_to_resource_policy(iam.PolicyStatement.from_json({
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com", "sns.amazonaws.com",
                                          "s3.amazonaws.com"]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }))
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
            self._subscribe(_context_list(self, ALARM_EMAIL_CONTEXT), _context_list(self, ALARM_URL_CONTEXT),
                            (), (), source="context")
        return self._topic

    def subscribe_alarms(
        self,
        *,
        emails: Iterable[str] = (),
        urls: Iterable[str] = (),
        queues: Iterable[sqs.IQueue] = (),
        functions: Iterable[lambda_.IFunction] = (),
    ) -> list[sns.Subscription]:
        """Subscribe people and systems to :attr:`alarm_topic`: every alarm of the stack's constructs notifies
        them when it fires and again when it recovers (OK), so a page clears itself.

        Parameters
        ----------
        emails:
            E-mail addresses. Each recipient confirms once, from the message SNS sends after deployment.
        urls:
            HTTPS endpoints, e.g. a paging service's SNS integration URL. ``http://`` is refused: alarm
            texts would cross the network in clear.
        queues:
            SQS queues (chat-ops bridges, ticketing), delivered raw. An encrypted queue's key must let SNS
            use it (the stack key does).
        functions:
            Lambda functions, e.g. a chat-ops notifier.

        Subscribing the same address, URL, queue or function twice adds it once.
        """
        return self._subscribe(emails, urls, queues, functions, source="prop")

    def _subscribe(self, emails: Iterable[str], urls: Iterable[str], queues: Iterable[sqs.IQueue],
                   functions: Iterable[lambda_.IFunction], *, source: str) -> list[sns.Subscription]:
        emails, urls, queues, functions = list(emails), list(urls), list(queues), list(functions)
        _validate_subscribers(self.node.path, emails, urls, source)
        if not (emails or urls or queues or functions):
            return []
        topic = self.alarm_topic
        dlq = self._delivery_dead_letter_queue()
        wanted: list[tuple[str, sns.ITopicSubscription]] = (
            [(f"email:{e}", subscriptions.EmailSubscription(e, dead_letter_queue=dlq)) for e in emails]
            + [(f"https:{u}", subscriptions.UrlSubscription(u, protocol=sns.SubscriptionProtocol.HTTPS,
                                                            dead_letter_queue=dlq)) for u in urls]
            + [(f"sqs:{q.node.path}", subscriptions.SqsSubscription(q, raw_message_delivery=True, dead_letter_queue=dlq))
               for q in queues]
            + [(f"lambda:{f.node.path}", subscriptions.LambdaSubscription(f, dead_letter_queue=dlq)) for f in functions]
        )
        added: list[sns.Subscription] = []
        for key, subscription in wanted:
            if key not in self._subscribed:
                self._subscribed.add(key)
                added.append(topic.add_subscription(subscription))
        return added

    def _delivery_dead_letter_queue(self) -> sqs.Queue:
        """Where SNS puts an alarm it could not deliver to a subscriber, with an alarm of its own."""
        existing = self.node.try_find_child("AlarmDeliveryDLQ")
        if isinstance(existing, sqs.Queue):
            return existing
        queue = sqs.Queue(
            self, "AlarmDeliveryDLQ",
            encryption=sqs.QueueEncryption.KMS, encryption_master_key=self.key, enforce_ssl=True,
            retention_period=cdk.Duration.days(defaults.ALARM_DELIVERY_DLQ_DAYS.value),
        )
        reason = (f"{queue.node.path} is the dead-letter queue of the alarm topic's subscriptions: it holds alarms "
                  "SNS could not deliver, so a dead-letter queue of its own would only move them again.")
        acknowledge(queue, Pack.AWS_SOLUTIONS, "AwsSolutions-SQS3", reason)
        acknowledge(queue, Pack.SERVERLESS, "Serverless-SQSRedrivePolicy", reason)
        # The other subscribers hear about a failed delivery (an e-mail still arrives when the pager is down).
        monitoring.create_alarm(
            queue, "NotEmpty",
            metric=queue.metric_approximate_number_of_messages_visible(period=monitoring.period(), statistic="Maximum"),
            threshold=1,
            description=(f"An alarm notification could not be delivered to a subscriber of {self.alarm_topic.node.path}"
                         f"; the undelivered messages are in {queue.node.path}. Check the subscriber endpoint."),
            action_topic=self.alarm_topic,
        )
        return queue

    @property
    def alarm_subscribers(self) -> list[str]:
        """Who receives the alarms of :attr:`alarm_topic`: ``"email:..."``, ``"https:..."``, ``"sqs:<path>"``,
        ``"lambda:<path>"``. Empty means no one does."""
        return sorted(self._subscribed)

    @property
    def dashboard(self) -> cloudwatch.Dashboard:
        """The stack's dashboard; each construct adds one row of widgets."""
        if self._dashboard is None:
            name = self._stack_name
            self._dashboard = cloudwatch.Dashboard(
                self,
                "Dashboard",
                dashboard_name=None if cdk.Token.is_unresolved(name) else f"{name}-service",
                period_override=cloudwatch.PeriodOverride.AUTO,
            )
        return self._dashboard

    @property
    def backup_plan(self) -> backup.BackupPlan:
        """A daily AWS Backup plan with 35-day retention, for every table a construct asks to back up."""
        if self._backup_plan is None:
            self._backup_plan = backup.BackupPlan.daily35_day_retention(self, "BackupPlan", self.backup_vault)
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

    @property
    def backup_vault(self) -> backup.BackupVault:
        """The vault of :attr:`backup_plan`, encrypted with :attr:`key` and retained on delete.

        Its id is ``BackupVault`` (it was the plan's own ``BackupPlan/Vault``, encrypted with AWS Backup's key):
        a vault's key cannot change in place, and a new id gives the new vault a new name, so an existing stack
        deploys, and the old vault is retained with its recovery points.
        """
        if self._backup_vault is None:
            self._backup_vault = backup.BackupVault(
                self, "BackupVault", encryption_key=self.key, removal_policy=cdk.RemovalPolicy.RETAIN,
            )
        return self._backup_vault

    def back_up_table(self, table: dynamodb.ITable) -> backup.BackupSelection:
        """Add ``table`` to the stack's backup plan (one selection per table, all with the same role)."""
        # Named after the table's path, so adding or reordering tables never renames another's selection.
        return self.backup_plan.add_selection(
            f"Table{cdk.Names.node_unique_id(table.node)}",
            resources=[backup.BackupResource.from_dynamo_db_table(table)],
            role=self.backup_role,
        )


def _context_list(scope: Construct, key: str) -> list[str]:
    """A context value as a list: ``-c key=a,b`` (a string) or a JSON list in ``cdk.json``."""
    value = scope.node.try_get_context(key)
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _validate_subscribers(path: str, emails: Sequence[str], urls: Sequence[str], source: str) -> None:
    problems = Problems("StackResources", path)
    email_prop = f"-c {ALARM_EMAIL_CONTEXT}" if source == "context" else "emails"
    url_prop = f"-c {ALARM_URL_CONTEXT}" if source == "context" else "urls"
    for email in emails:
        if not is_token(email) and not _EMAIL.match(email):
            problems.add(email_prop, "e-mail addresses like oncall@example.com", email,
                         "fix the address (separate several with commas)")
    for url in urls:
        if not is_token(url) and not url.startswith("https://"):
            problems.add(url_prop, "https:// URLs", url,
                         "use the endpoint's https:// URL; SNS would send alarm texts over http in clear")
    problems.raise_if_any()

