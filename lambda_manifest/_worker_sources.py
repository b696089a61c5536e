"""The queues of an AsyncWorker and the sources that feed them: the base class of ``AsyncWorker``.

It makes the worker's queues (all encrypted alike), the delivery dead-letter queue SNS and EventBridge fall back
to, the stack outputs the redrive command reads, and the SNS, EventBridge and S3 sources, each allowed by a
queue policy statement scoped to that one source. ``AsyncWorker`` adds the worker, its event source mapping,
the API route and the alarms.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest import monitoring
from lambda_manifest._validation import Problems, seconds
from lambda_manifest.compliance import Pack, acknowledge, acknowledge_all, acknowledge_checkov

# aws-cdk-lib's singleton (one per stack) that writes bucket notification configurations at deploy time.
_S3_NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


class WorkerQueues(Construct):
    """Queues and queue sources of a worker; see :class:`~lambda_manifest.AsyncWorker`."""

    queue: sqs.IQueue
    fifo: bool
    alarms: dict[str, cloudwatch.Alarm]
    alarm_topic: sns.ITopic
    _encryption: sqs.QueueEncryption
    _key: kms.IKey | None
    _shared_key: kms.IKey
    _delivery_dlqs: dict[bool, sqs.Queue]
    _output_prefix: str

    def add_sns_subscription(
        self,
        topic: sns.ITopic,
        *,
        raw_message_delivery: bool = defaults.SNS_RAW_MESSAGE_DELIVERY.value,
        filter_policy: Mapping[str, sns.SubscriptionFilter] | None = None,
        filter_policy_with_message_body: Mapping[str, sns.FilterOrPolicy] | None = None,
    ) -> sns.Subscription:
        """Subscribe the queue to ``topic`` (fan-out). Deliveries SNS cannot make go to the delivery DLQ.

        The queue policy lets ``sns.amazonaws.com`` send only on behalf of this topic. A FIFO worker needs a
        FIFO topic. With ``encryption=KMS`` the topic must be in this account (the key trusts this account's
        SNS only); with your own ``encryption_key``, its policy gets a statement scoped to this topic.
        """
        topic_fifo = bool(getattr(topic, "fifo", False))
        if self.fifo and not topic_fifo:
            self._raise("add_sns_subscription", "topic", "a FIFO topic for a FIFO queue", topic.node.path,
                        "SNS delivers to FIFO queues only from FIFO topics; subscribe a FIFO topic or use fifo=False")
        if filter_policy and filter_policy_with_message_body:
            self._raise("add_sns_subscription", "filter_policy", "not combined with filter_policy_with_message_body",
                        "both set", "SNS applies one filter policy scope; pass only one of them")
        policy = self._allow_service(self.queue, "sns.amazonaws.com", topic.topic_arn)
        subscription = sns.Subscription(
            self,
            f"Subscription{cdk.Names.node_unique_id(topic.node)}",
            topic=topic,
            endpoint=self.queue.queue_arn,
            protocol=sns.SubscriptionProtocol.SQS,
            raw_message_delivery=raw_message_delivery,
            filter_policy=dict(filter_policy) if filter_policy else None,
            filter_policy_with_message_body=dict(filter_policy_with_message_body)
            if filter_policy_with_message_body else None,
            dead_letter_queue=self._delivery_dead_letter_queue(fifo=topic_fifo),
        )
        # sns.Subscription grants SNS SendMessage on its DLQ (scoped to the topic); the key needs the same.
        self._allow_key("sns.amazonaws.com", topic.topic_arn)
        if policy.policy_dependable is not None:
            subscription.node.add_dependency(policy.policy_dependable)
        return subscription

    def add_event_rule(
        self,
        rule: events.Rule | None = None,
        *,
        id: str | None = None,
        event_pattern: events.EventPattern | None = None,
        schedule: events.Schedule | None = None,
        description: str | None = None,
        message: events.RuleTargetInput | None = None,
        message_group_id: str | None = None,
        retry_attempts: int = defaults.SOURCE_RETRY_ATTEMPTS.value,
        max_event_age: cdk.Duration | None = None,
    ) -> events.Rule:
        """Deliver the events of ``rule`` (or of a new rule from ``event_pattern`` or ``schedule``) to the queue.

        The queue policy lets ``events.amazonaws.com`` send only for this rule; events EventBridge cannot deliver
        after ``retry_attempts`` or ``max_event_age`` land in the delivery DLQ. A FIFO worker needs
        ``message_group_id``.
        """
        problems = Problems("AsyncWorker.add_event_rule", self.node.id)
        if (rule is None) == (event_pattern is None and schedule is None):
            problems.add("rule", "given, or else event_pattern and/or schedule", "both" if rule else "neither",
                         "pass an existing events.Rule, or the pattern or schedule of a new one")
        if rule is not None and description is not None:
            problems.add("description", "used only when the rule is created here", description, "drop it")
        if rule is None and not id:
            # A counter-derived id would rename (and so replace) every rule when one is added before it.
            problems.add("id", "set when the rule is created here", id,
                         "name the rule, e.g. add_event_rule(id='Nightly', schedule=...)")
        if self.fifo and not message_group_id:
            problems.add("message_group_id", "set for a FIFO queue", message_group_id,
                         "pass e.g. message_group_id='nightly'")
        if not self.fifo and message_group_id:
            problems.add("message_group_id", "used only with a FIFO queue", message_group_id, "drop it")
        low, high = defaults.SOURCE_RETRY_RANGE
        problems.check_range("retry_attempts", retry_attempts, low, high, "", "pass 0-185 (the EventBridge limits)")
        age = max_event_age or cdk.Duration.seconds(defaults.SOURCE_MAX_EVENT_AGE_SECONDS.value)
        low, high = defaults.SOURCE_MAX_EVENT_AGE_RANGE_SECONDS
        problems.check_range("max_event_age", seconds(age), low, high, "seconds",
                             "pass between Duration.minutes(1) and Duration.hours(24)")
        problems.raise_if_any()

        if rule is None:
            rule = events.Rule(self, cast(str, id), event_pattern=event_pattern, schedule=schedule,
                               description=description or f"Delivers events to the queue of {self.node.path}")
        # EventBridge dead-letter queues are standard queues, also for FIFO targets.
        dead_letter = self._delivery_dead_letter_queue(fifo=False)
        rule.add_target(_QueueRuleTarget(
            queue=self.queue,
            dead_letter_queue=dead_letter,
            message=message,
            message_group_id=message_group_id,
            retry_attempts=retry_attempts,
            max_event_age=age,
        ))
        self._allow_service(self.queue, "events.amazonaws.com", rule.rule_arn)
        self._allow_service(dead_letter, "events.amazonaws.com", rule.rule_arn)
        return rule

    def add_s3_notifications(
        self,
        bucket: s3.Bucket,
        *,
        prefix: str | None = None,
        suffix: str | None = None,
        events: Sequence[s3.EventType] = (s3.EventType.OBJECT_CREATED,),
    ) -> None:
        """Send ``bucket``'s object notifications (filtered by key ``prefix``/``suffix``) to the queue.

        The queue policy lets ``s3.amazonaws.com`` send only for this bucket and account. S3 cannot notify FIFO
        queues. S3 sends one ``s3:TestEvent`` when the configuration is saved; the runtime acknowledges it.
        """
        if self.fifo:
            self._raise("add_s3_notifications", "the queue", "a standard queue", "FIFO",
                        "S3 cannot send notifications to FIFO queues; use a standard AsyncWorker")
        if not events:
            self._raise("add_s3_notifications", "events", "at least one s3.EventType", [],
                        "pass e.g. events=[s3.EventType.OBJECT_CREATED]")
        filters = [s3.NotificationKeyFilter(prefix=prefix, suffix=suffix)] if prefix or suffix else []
        destination = _QueueNotificationDestination(self)
        for event in events:
            bucket.add_event_notification(event, destination, *filters)
        self._acknowledge_s3_notifications_handler(bucket)

    @property
    def delivery_dead_letter_queue(self) -> sqs.Queue | None:
        """Where SNS and EventBridge put what they could not deliver; created with the first such source."""
        return self._delivery_dlqs.get(False) or self._delivery_dlqs.get(True)

    def _raise(self, method: str, prop: str, allowed: str, got: Any, fix: str) -> None:
        problems = Problems(f"AsyncWorker.{method}", self.node.id)
        problems.add(prop, allowed, got, fix)
        problems.raise_if_any()

    def _queue(
        self,
        id: str,
        *,
        fifo: bool,
        retention: cdk.Duration,
        visibility_timeout: cdk.Duration | None = None,
        dead_letter: sqs.DeadLetterQueue | None = None,
        content_based_deduplication: bool | None = None,
    ) -> sqs.Queue:
        return sqs.Queue(
            self,
            id,
            fifo=fifo or None,
            content_based_deduplication=content_based_deduplication,
            encryption=self._encryption,
            encryption_master_key=self._key,
            data_key_reuse=cdk.Duration.minutes(5) if self._key is not None else None,
            enforce_ssl=True,
            retention_period=retention,
            visibility_timeout=visibility_timeout,
            dead_letter_queue=dead_letter,
        )

    def _delivery_dead_letter_queue(self, *, fifo: bool) -> sqs.Queue:
        existing = self._delivery_dlqs.get(fifo)
        if existing is not None:
            return existing
        suffix = "Fifo" if fifo else ""
        queue = self._queue(f"DeliveryDeadLetterQueue{suffix}", fifo=fifo,
                            retention=cdk.Duration.days(defaults.DLQ_RETENTION_DAYS.value))
        reason = (f"{queue.node.path} is itself a dead-letter queue: SNS and EventBridge put the deliveries they "
                  "could not make into it. A DLQ of its own would only move the problem; its depth alarms.")
        acknowledge(queue, Pack.AWS_SOLUTIONS, "AwsSolutions-SQS3", reason)
        acknowledge(queue, Pack.SERVERLESS, "Serverless-SQSRedrivePolicy", reason)
        self._delivery_dlqs[fifo] = queue
        output = f"DeliveryDeadLetterQueue{suffix}Url"
        self._output(output, queue.queue_url,
                     f"Deliveries SNS/EventBridge could not make to {self.node.path}: python -m "
                     f"lambda_manifest.redrive {self._stack_output_ref('QueueUrl')} --dlq "
                     f"{self._stack_output_ref(output)} --no-move-task")
        self.alarms[f"DeliveryFailures{suffix}"] = monitoring.create_alarm(
            self, f"DeliveryDeadLetterQueue{suffix}Alarm",
            metric=queue.metric_approximate_number_of_messages_visible(period=monitoring.period(),
                                                                       statistic="Maximum"),
            threshold=1, action_topic=self.alarm_topic,
            description=(
                f"{self.node.path}: SNS or EventBridge could not deliver messages to the queue. Check the queue "
                "policy and key, then copy them to the queue: python -m lambda_manifest.redrive "
                f"{self._stack_output_ref('QueueUrl')} --dlq {self._stack_output_ref(output)} --dry-run, then "
                "again without --dry-run (copy mode: this queue is no queue's redrive target)."
            ),
        )
        return queue

    def _allow_service(
        self, queue: sqs.IQueue, service: str, source_arn: str, *, arn_like: bool = False,
        source_account: bool = False,
    ) -> iam.AddToResourcePolicyResult:
        """Let one AWS service send to ``queue`` on behalf of one source only (no confused deputy)."""
        conditions: dict[str, Any] = {"ArnLike" if arn_like else "ArnEquals": {"aws:SourceArn": source_arn}}
        if source_account:
            conditions["StringEquals"] = {"aws:SourceAccount": cdk.Stack.of(self).account}
        result = queue.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal(service)],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions=conditions,
        ))
        self._allow_key(service, source_arn, arn_like=arn_like)
        return result

    def _allow_key(self, service: str, source_arn: str, *, arn_like: bool = False) -> None:
        # The shared key already lets SNS, EventBridge and S3 of this account use it; a key of the user's own
        # gets one statement per source, scoped like the queue policy.
        if self._key is None or self._key is self._shared_key:
            return
        self._key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal(service)],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={"ArnLike" if arn_like else "ArnEquals": {"aws:SourceArn": source_arn}},
        ), allow_no_op=True)

    def _acknowledge_s3_notifications_handler(self, bucket: s3.Bucket) -> None:
        # aws-cdk-lib configures bucket notifications with a deploy-time custom resource; the statement it gives
        # that handler's role for this bucket is an inline policy under the bucket.
        notifications = bucket.node.try_find_child("Notifications")
        policy = notifications.node.try_find_child("HandlerPolicy") if notifications is not None else None
        if policy is None:
            return
        acknowledge_all(
            policy,
            [(Pack.HIPAA_SECURITY, "HIPAA.Security-IAMNoInlinePolicy"),
             (Pack.NIST_800_53_R5, "NIST.800.53.R5-IAMNoInlinePolicy"),
             (Pack.PCI_DSS_321, "PCI.DSS.321-IAMNoInlinePolicy")],
            f"{policy.node.path} is aws-cdk-lib's own policy for its BucketNotificationsHandler, the deploy-time "
            "custom resource that writes the bucket's notification configuration: it allows only "
            "s3:PutBucketNotification, CloudFormation invokes the handler only during deployments, and "
            "aws-cdk-lib offers no way to make it a managed policy.",
        )
        handler = cdk.Stack.of(self).node.try_find_child(_S3_NOTIFICATIONS_HANDLER_ID)
        if handler is not None:
            # Checkov scans the handler's function like any other (cdk-nag does not: it is a plain CfnResource).
            # One handler serves every bucket of the stack; acknowledging it again keeps the first reason.
            for check, why in (
                ("CKV_AWS_116", "CloudFormation invokes it synchronously during deployments and fails the "
                                "deployment with its error, so no event could ever reach a dead-letter queue."),
                ("CKV_AWS_117", "it calls only the S3 PutBucketNotificationConfiguration API over TLS and reaches "
                                "no private network resource."),
                ("CKV_AWS_115", "it runs once per bucket notification change in a deployment, so it never competes "
                                "for the account's concurrency."),
            ):
                acknowledge_checkov(
                    handler, check,
                    f"{handler.node.path} is aws-cdk-lib's deploy-time BucketNotificationsHandler (one per stack): {why}",
                )
        role = handler.node.try_find_child("Role") if handler is not None else None
        if role is not None:
            acknowledge(
                role, Pack.AWS_SOLUTIONS,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                f"{role.node.path} is the role aws-cdk-lib creates for its BucketNotificationsHandler (one per "
                "stack): AWSLambdaBasicExecutionRole only lets that deploy-time handler write its own logs, and "
                "aws-cdk-lib fixes the role's policies.",
            )

    def _logical_prefix(self) -> str:
        stack = cdk.Stack.of(self)
        relative = self.node.path[len(stack.node.path):].lstrip("/") if stack.node.path else self.node.path
        return re.sub(r"[^A-Za-z0-9]", "", relative)

    def _stack_output_ref(self, name: str) -> str:
        """``StackName/OutputName`` as the redrive command accepts it."""
        return f"{cdk.Stack.of(self).stack_name}/{self._output_prefix}{name}"

    def _output(self, name: str, value: str, description: str) -> None:
        output = cdk.CfnOutput(self, name, value=value, description=description)
        # A readable, stable name, so the alarm text and the runbook can name it.
        output.override_logical_id(f"{self._output_prefix}{name}")


@jsii.implements(events.IRuleTarget)
class _QueueRuleTarget:
    """The queue as an EventBridge target, without ``targets.SqsQueue``'s grant: for a KMS-encrypted queue that
    grant lets every EventBridge rule send, so :meth:`AsyncWorker.add_event_rule` scopes it to the rule."""

    def __init__(
        self,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        message: events.RuleTargetInput | None,
        message_group_id: str | None,
        retry_attempts: int,
        max_event_age: cdk.Duration,
    ) -> None:
        self._queue = queue
        self._dlq = dead_letter_queue
        self._message = message
        self._group = message_group_id
        self._retries = retry_attempts
        self._age = max_event_age

    def bind(self, rule: Any, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            arn=self._queue.queue_arn,
            target_resource=self._queue,
            input=self._message,
            sqs_parameters=events.CfnRule.SqsParametersProperty(message_group_id=self._group)
            if self._group else None,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._dlq.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=self._retries,
                maximum_event_age_in_seconds=int(self._age.to_seconds()),
            ),
        )


@jsii.implements(s3.IBucketNotificationDestination)
class _QueueNotificationDestination:
    """The queue as an S3 notification destination, granting S3 for this bucket and account only (CDK's
    ``SqsDestination`` also adds an unconditioned statement to the key policy)."""

    def __init__(self, worker: WorkerQueues) -> None:
        self._worker = worker

    def bind(self, scope: Construct, bucket: Any) -> s3.BucketNotificationDestinationConfig:
        worker = self._worker
        bucket_arn = bucket.bucket_arn if hasattr(bucket, "bucket_arn") else bucket.bucket_ref.bucket_arn
        worker._allow_service(worker.queue, "s3.amazonaws.com", bucket_arn, arn_like=True, source_account=True)
        return s3.BucketNotificationDestinationConfig(
            arn=worker.queue.queue_arn,
            type=s3.BucketNotificationDestinationType.QUEUE,
            # S3 validates the destination when the configuration is saved, so the queue policy must exist.
            dependencies=[worker.queue],
        )
