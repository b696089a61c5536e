"""AsyncWorker: an SQS queue, its dead-letter queue and a worker ObservedFunction that never lose a message."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as apigwv2_integrations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest import _handlers, monitoring
from lambda_manifest._validation import Problems, is_token, seconds
from lambda_manifest.compliance import Pack, acknowledge, acknowledge_all, acknowledge_checkov
from lambda_manifest.data_table import DataTable
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.runtime.worker.contract import (
    ENV_FIFO,
    ENV_IDEMPOTENCY_KEY,
    ENV_IDEMPOTENCY_TABLE,
    ENV_IDEMPOTENCY_TTL_SECONDS,
    ENV_PROCESS,
    ENV_RAW_BODY,
    IDEMPOTENCY_PARTITION_KEY,
    IDEMPOTENCY_TABLE_ACTIONS,
    IDEMPOTENCY_TTL_ATTRIBUTE,
)
from lambda_manifest.runtime.worker.contract import ENV_NAMES as _RUNTIME_ENV
from lambda_manifest.runtime.worker.contract import HANDLER as WORKER_ENTRY
from lambda_manifest.shared import StackResources

if TYPE_CHECKING:
    from lambda_manifest._api_options import Throttle
    from lambda_manifest.serverless_api import ApiRoute, ServerlessApi

# aws-cdk-lib's singleton (one per stack) that writes bucket notification configurations at deploy time.
_S3_NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
# ObservedFunction props that configure asynchronous invocation; an event source mapping invokes synchronously.
_ASYNC_PROPS = ("async_invocation", "retry_attempts", "max_event_age", "on_failure")


@jsii.implements(iam.IGrantable)
class AsyncWorker(Construct):
    """An SQS queue, its dead-letter queue and a worker :class:`ObservedFunction`, wired by an event source
    mapping that reports partial batch failures. Unsafe settings are synth-time errors.

    The usual worker runs the shipped runtime (``lambda_manifest.runtime.worker``): write ``def process(record) -> None`` and pass
    ``process="my_service.jobs:process"``. Every default comes from :mod:`lambda_manifest._defaults`; the README
    lists each prop with its default and range.

    Parameters
    ----------
    handler:
        The worker: an :class:`ObservedFunction`, or a dict of ``ObservedFunction`` keyword arguments (created
        as the child ``Worker``; ``service_name`` defaults to this construct's id). Default: - built from
        ``process``.
    process:
        ``"package.module:function"`` run by the shipped runtime: the handler becomes
        ``lambda_manifest.runtime.worker.handler.main`` with ``LM_WORKER_PROCESS`` set. With a dict ``handler``, the dict adds the
        other function props but must not name a ``handler``. Default: - none; ``handler`` must be given.
    code:
        The code that holds the ``process`` module (or the handler of a dict ``handler``), e.g.
        ``Code.from_asset("src")``; the same as ``handler={"code": ...}``. The worker runtime arrives as the
        stack's worker layer. Default: - the dict's ``code``; one of the two is required with ``process``.
    fifo:
        A FIFO queue (and FIFO DLQ); the runtime stops a message group at its first failure. Default: ``False``.
    content_based_deduplication:
        FIFO only. Default: ``False``.
    encryption:
        ``QueueEncryption.KMS`` or ``QueueEncryption.SQS_MANAGED``. Default: ``KMS``.
    encryption_key:
        KMS only. Default: - the stack's shared key.
    retention_period:
        60 s-14 days. Default: 14 days.
    visibility_timeout:
        At least 6 x the function timeout + ``max_batching_window``, at most 12 h. Default: - that minimum.
    max_receive_count:
        Receives before a message is dead-lettered, 1-1000. Default: ``5``.
    dead_letter_queue:
        Your own DLQ (FIFO for a FIFO queue). Default: - an encrypted queue retained 14 days.
    batch_size:
        1-10000 (above 10 needs ``max_batching_window``); 1-10 for FIFO. Default: ``10``.
    max_batching_window:
        0-300 s; not for FIFO. Default: - none.
    max_concurrency:
        2-1000, at most the function's reserved concurrency. Default: - unset.
    raw_body:
        Pass non-JSON bodies to ``process`` as text instead of failing them. Default: ``False``.
    idempotency:
        Create the idempotency table and configure the runtime to use it. Default: ``False``.
    idempotency_window:
        How long a processed message is remembered; at least the visibility timeout. Default: 1 hour.
    idempotency_key:
        JMESPath over ``{"body", "group_id"}``, e.g. ``"body.order_id"``. Default: - the whole body and group.
    alarm_topic:
        Default: - the stack's shared alarm topic.
    dead_letter_alarm_threshold:
        Messages in the DLQ that alarm. Default: ``1``.
    age_alarm_threshold:
        Age of the oldest message that alarms, at least 60 s. Default: - visibility timeout x max_receive_count.
    dashboard:
        Add queue depth and age to the stack dashboard. Default: ``True``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        handler: lambda_.IFunction | Mapping[str, Any] | None = None,
        process: str | None = None,
        code: lambda_.Code | None = None,
        queue: sqs.IQueue | None = None,
        fifo: bool = False,
        content_based_deduplication: bool | None = None,
        encryption: sqs.QueueEncryption | None = None,
        encryption_key: kms.IKey | None = None,
        retention_period: cdk.Duration | None = None,
        visibility_timeout: cdk.Duration | None = None,
        max_receive_count: int | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        batch_size: int = defaults.BATCH_SIZE.value,
        max_batching_window: cdk.Duration | None = None,
        max_concurrency: int | None = None,
        raw_body: bool = False,
        idempotency: bool = False,
        idempotency_window: cdk.Duration | None = None,
        idempotency_key: str | None = None,
        alarm_topic: sns.ITopic | None = None,
        dead_letter_alarm_threshold: int = defaults.DLQ_ALARM_THRESHOLD.value,
        age_alarm_threshold: cdk.Duration | None = None,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, id)
        if queue is not None:
            self._validate_existing_queue(id, queue, fifo=fifo, content_based_deduplication=content_based_deduplication,
                                          encryption=encryption, encryption_key=encryption_key,
                                          retention_period=retention_period, visibility_timeout=visibility_timeout,
                                          max_receive_count=max_receive_count, dead_letter_queue=dead_letter_queue)
            fifo = bool(queue.fifo)
            redrive = queue.dead_letter_queue if isinstance(queue, sqs.Queue) else None
            dead_letter_queue = dead_letter_queue or (redrive.queue if redrive else None)
            if redrive is not None:
                max_receive_count = int(redrive.max_receive_count)
        encryption = encryption or sqs.QueueEncryption.KMS
        if max_receive_count is None:  # not `or`: 0 is a value to reject, not a request for the default
            max_receive_count = defaults.MAX_RECEIVE_COUNT.value
        function_props = dict(handler) if isinstance(handler, Mapping) else None
        if code is not None:
            if handler is None:
                function_props = {"code": code}
            elif function_props is not None:
                function_props.setdefault("code", code)
        function_timeout = self._function_timeout(handler, function_props)
        window_seconds = seconds(max_batching_window) or 0.0
        timeout_seconds = seconds(function_timeout)
        minimum_visibility = (
            None if timeout_seconds is None
            else int(defaults.VISIBILITY_TIMEOUT_FACTOR * timeout_seconds + window_seconds)
        )
        retention_period = retention_period or cdk.Duration.days(defaults.QUEUE_RETENTION_DAYS.value)
        if queue is not None:
            visibility_timeout = _visibility_of(queue)
        if visibility_timeout is None and minimum_visibility is not None:
            visibility_timeout = cdk.Duration.seconds(minimum_visibility)
        idempotency_window = idempotency_window or (
            cdk.Duration.seconds(defaults.IDEMPOTENCY_WINDOW_SECONDS.value) if idempotency else None
        )

        self._validate(
            id,
            handler=handler,
            function_props=function_props,
            process=process,
            code=code,
            fifo=fifo,
            content_based_deduplication=content_based_deduplication,
            encryption=encryption,
            encryption_key=encryption_key,
            retention_period=retention_period,
            visibility_timeout=visibility_timeout,
            minimum_visibility=minimum_visibility,
            max_receive_count=max_receive_count,
            dead_letter_queue=dead_letter_queue,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            max_concurrency=max_concurrency,
            idempotency=idempotency,
            idempotency_window=idempotency_window,
            idempotency_key=idempotency_key,
            dead_letter_alarm_threshold=dead_letter_alarm_threshold,
            age_alarm_threshold=age_alarm_threshold,
        )
        assert visibility_timeout is not None  # _validate rejects a token timeout without an explicit value

        shared = StackResources.of(self)
        self.fifo = fifo
        self.max_receive_count = max_receive_count
        self.visibility_timeout = visibility_timeout
        self.alarm_topic: sns.ITopic = alarm_topic or shared.alarm_topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._encryption = encryption
        self._key: kms.IKey | None = (encryption_key or shared.key) if encryption == sqs.QueueEncryption.KMS else None
        self._shared_key = shared.key
        self._content_based_deduplication = bool(content_based_deduplication)
        self._delivery_dlqs: dict[bool, sqs.Queue] = {}
        self._api_role: iam.Role | None = None
        self._output_prefix = self._logical_prefix()

        # Built in the order messages flow: where failures end, the queue, the worker and its wiring, then how
        # we watch it.
        self.dead_letter_queue: sqs.IQueue = dead_letter_queue or self._queue(
            "DeadLetterQueue", fifo=fifo, retention=cdk.Duration.days(defaults.DLQ_RETENTION_DAYS.value)
        )
        self.queue: sqs.IQueue = queue or self._queue(
            "Queue",
            fifo=fifo,
            retention=retention_period,
            visibility_timeout=visibility_timeout,
            dead_letter=sqs.DeadLetterQueue(max_receive_count=max_receive_count, queue=self.dead_letter_queue),
            content_based_deduplication=content_based_deduplication if fifo else None,
        )

        self.idempotency_table: dynamodb.Table | None = None
        if idempotency:
            self.idempotency_table = self._idempotency_table(shared.key)

        self.function = self._worker(id, handler, function_props, process)
        self._configure_runtime(raw_body=raw_body, idempotency_window=idempotency_window,
                                idempotency_key=idempotency_key)

        self.event_source = event_sources.SqsEventSource(
            self.queue,
            batch_size=batch_size,
            max_batching_window=max_batching_window if max_batching_window is not None and not fifo else None,
            max_concurrency=max_concurrency,
            report_batch_item_failures=True,
        )
        invocable = self.function.invocable if isinstance(self.function, ObservedFunction) else self.function
        invocable.add_event_source(self.event_source)
        mapping = invocable.node.try_find_child(
            f"SqsEventSource:{cdk.Names.node_unique_id(self.queue.node)}")
        assert isinstance(mapping, lambda_.EventSourceMapping)
        self.event_source_mapping: lambda_.EventSourceMapping = mapping
        self._acknowledge(own_dead_letter_queue=dead_letter_queue is None)

        age_threshold = age_alarm_threshold or cdk.Duration.seconds(
            max(defaults.AGE_ALARM_MIN_SECONDS, int(visibility_timeout.to_seconds()) * max_receive_count)
        )
        self._create_alarms(dead_letter_alarm_threshold, age_threshold)
        self.dashboard: cloudwatch.Dashboard | None = None
        if dashboard:
            self.dashboard = shared.dashboard
            self._add_dashboard_row(self.dashboard)
        self._output("QueueUrl", self.queue.queue_url, f"URL of the queue of {self.node.path}; send work here.")
        self._output(
            "DeadLetterQueueUrl", self.dead_letter_queue.queue_url,
            f"Dead-letter queue of {self.node.path}: python -m lambda_manifest.redrive "
            f"{self._stack_output_ref('DeadLetterQueueUrl')} --dry-run",
        )

    # ----------------------------------------------------------------------------------------------
    # Producers
    # ----------------------------------------------------------------------------------------------
    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The worker's role, so ``table.grant_read_data(async_worker)`` grants the worker."""
        return self.function.grant_principal

    @property
    def queue_url(self) -> str:
        return self.queue.queue_url

    @property
    def queue_arn(self) -> str:
        return self.queue.queue_arn

    def grant_send(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to send messages to the queue (and to use its key, when it has one)."""
        return self.queue.grant_send_messages(grantee)

    def add_api_route(
        self,
        api: ServerlessApi,
        route: str = "POST /orders",
        *,
        message_group_id: str | None = None,
        accepted_status: int | None = defaults.API_ACCEPTED_STATUS.value,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
        authorization_scopes: Sequence[str] | None = None,
    ) -> ApiRoute:
        """Send each request body straight to the queue: an HTTP API ``SQS-SendMessage`` integration, no Lambda.

        ``api`` is a :class:`~lambda_manifest.serverless_api.ServerlessApi` of type HTTP. The route uses the API's
        authorizer (with ``authorization_scopes``, for JWT/Cognito) unless ``public_reason`` says why it is
        public; ``throttle`` sets a route-level limit. API Gateway
        assumes a role of its own that may only ``sqs:SendMessage`` to this queue (and use its key). The client
        gets ``accepted_status`` (default 202; ``None`` keeps SQS's 200) with SQS's SendMessage result as the
        body, which carries the ``MessageId``. SQS's own errors pass through: an empty body is a 400 from SQS.

        For a FIFO queue, ``message_group_id`` is required: a mapping expression such as
        ``"$request.header.X-Group-Id"`` or ``"$context.authorizer.claims.sub"``, or a static value; without
        content-based deduplication the request id is the deduplication id.
        """
        problems = Problems("AsyncWorker.add_api_route", self.node.id)
        if getattr(getattr(api, "api_type", None), "value", None) != "HTTP":
            problems.add("api", "a ServerlessApi with api_type=ApiType.HTTP", getattr(api, "api_type", api),
                         "the SQS-SendMessage integration exists on HTTP APIs only")
        if self.fifo and not message_group_id:
            problems.add("message_group_id", "set for a FIFO queue", message_group_id,
                         "pass e.g. message_group_id='$request.header.X-Group-Id'")
        if not self.fifo and message_group_id:
            problems.add("message_group_id", "used only with a FIFO queue", message_group_id,
                         "drop it, or create the worker with fifo=True")
        if accepted_status is not None and not 200 <= accepted_status <= 299:
            problems.add("accepted_status", "a 2xx status code or None", accepted_status,
                         "pass 202 (the default), 200, or None to keep SQS's status")
        problems.raise_if_any()

        mapping = (
            apigwv2.ParameterMapping()
            .custom("QueueUrl", self.queue.queue_url)
            .custom("MessageBody", "$request.body")
        )
        if self.fifo:
            assert message_group_id is not None
            mapping.custom("MessageGroupId", message_group_id)
            if not self._content_based_deduplication:
                mapping.custom("MessageDeduplicationId", "$context.requestId")
        integration = _QueueSendIntegration(
            f"{self.node.id}SendMessage",
            queue=self.queue,
            role=self._api_send_role(),
            parameter_mapping=mapping,
            accepted_status=accepted_status,
        )
        return api.add_integration_route(route, integration, public_reason=public_reason, throttle=throttle,
                                         authorization_scopes=authorization_scopes)

    # ----------------------------------------------------------------------------------------------
    # More sources into the same queue
    # ----------------------------------------------------------------------------------------------
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

    # ----------------------------------------------------------------------------------------------
    # Metrics
    # ----------------------------------------------------------------------------------------------
    def metric_visible_messages(self, **options: Any) -> cloudwatch.Metric:
        """Messages waiting on the queue. Default: maximum over 5 minutes."""
        return self.queue.metric_approximate_number_of_messages_visible(
            **{"period": monitoring.period(), "statistic": "Maximum", **options})

    def metric_in_flight_messages(self, **options: Any) -> cloudwatch.Metric:
        """Messages received and not yet deleted. Default: maximum over 5 minutes."""
        return self.queue.metric_approximate_number_of_messages_not_visible(
            **{"period": monitoring.period(), "statistic": "Maximum", **options})

    def metric_oldest_message_age(self, **options: Any) -> cloudwatch.Metric:
        """Age of the oldest message on the queue, in seconds. Default: maximum over 5 minutes."""
        return self.queue.metric_approximate_age_of_oldest_message(
            **{"period": monitoring.period(), "statistic": "Maximum", **options})

    def metric_dead_letter_messages(self, **options: Any) -> cloudwatch.Metric:
        """Messages waiting in the dead-letter queue. Default: maximum over 5 minutes."""
        return self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            **{"period": monitoring.period(), "statistic": "Maximum", **options})

    def metric_messages_sent(self, **options: Any) -> cloudwatch.Metric:
        """Messages sent to the queue. Default: sum over 5 minutes."""
        return self.queue.metric_number_of_messages_sent(**{"period": monitoring.period(), **options})

    def metric_messages_deleted(self, **options: Any) -> cloudwatch.Metric:
        """Messages processed and deleted. Default: sum over 5 minutes."""
        return self.queue.metric_number_of_messages_deleted(**{"period": monitoring.period(), **options})

    @property
    def delivery_dead_letter_queue(self) -> sqs.Queue | None:
        """Where SNS and EventBridge put what they could not deliver; created with the first such source."""
        return self._delivery_dlqs.get(False) or self._delivery_dlqs.get(True)

    # ----------------------------------------------------------------------------------------------
    # Construction steps
    # ----------------------------------------------------------------------------------------------
    @staticmethod
    def _validate_existing_queue(id: str, queue: sqs.IQueue, **p: Any) -> None:
        problems = Problems("AsyncWorker", id)
        for name, value in p.items():
            if name == "dead_letter_queue" or value in (None, False):
                continue
            problems.add(name, "unset when queue= is given", value if isinstance(value, (bool, int, str)) else "set",
                         "configure it on your queue, or drop queue= to let AsyncWorker create the queue")
        has_redrive = isinstance(queue, sqs.Queue) and queue.dead_letter_queue is not None
        if p["dead_letter_queue"] is None and not has_redrive:
            problems.add("queue", "a queue with a dead-letter queue, or dead_letter_queue= must be given",
                         queue.node.path, "create it with sqs.Queue(..., dead_letter_queue=sqs.DeadLetterQueue(...)), "
                         "or pass dead_letter_queue= the queue its redrive policy names; a worker without one "
                         "retries a poison message until it expires")
        problems.raise_if_any()

    @staticmethod
    def _function_timeout(
        handler: lambda_.IFunction | Mapping[str, Any] | None, props: Mapping[str, Any] | None
    ) -> cdk.Duration | None:
        if isinstance(handler, lambda_.Function):
            return handler.timeout
        if handler is not None and not isinstance(handler, Mapping):
            return None  # an imported function: its timeout is unknown here
        timeout = (props or {}).get("timeout")
        return timeout if isinstance(timeout, cdk.Duration) else cdk.Duration.seconds(defaults.TIMEOUT_SECONDS.value)

    @staticmethod
    def _validate(id: str, **p: Any) -> None:
        problems = Problems("AsyncWorker", id)
        handler, props, process = p["handler"], p["function_props"], p["process"]
        if handler is None and process is None:
            problems.add("handler", "an ObservedFunction or a dict of its props, or process= must be set", None,
                         "pass process='my_service.jobs:process' to run the shipped worker runtime")
        elif props is None and handler is not None and not _is_function(handler):
            problems.add("handler", "a Lambda function (any IFunction) or a dict of ObservedFunction props",
                         type(handler).__name__, "pass handler={'handler': 'module.main', 'code': ...}")
        if p["code"] is not None and handler is not None and props is None:
            problems.add("code", "unset when handler is a function", "set",
                         "the function brings its own code; drop code=, or pass handler as a dict")
        if props is None and handler is not None and process is not None:
            problems.add("process", "unset when handler is a function", process,
                         f"set {ENV_PROCESS} on your function yourself, or pass a dict as handler")
        if props is not None:
            if process is not None and "handler" in props:
                problems.add("handler", "without a 'handler' key when process= is given", props["handler"],
                             f"drop one: process= sets the handler to {WORKER_ENTRY}")
            if process is None and handler is not None and "handler" not in props:
                problems.add("handler", "a dict with a 'handler' key, or process= must be set", sorted(props),
                             "add 'handler': 'module.main' or pass process='module:function'")
            for name in _ASYNC_PROPS:
                if props.get(name) not in (None, False):
                    problems.add(f"handler[{name!r}]", "unset: the event source mapping invokes the worker "
                                 "synchronously", props[name],
                                 "drop it; failed messages go to the queue's dead-letter queue")
            for name in props.get("environment") or {}:
                if name in _RUNTIME_ENV and not (name == ENV_PROCESS and process is None):
                    problems.add(f"handler['environment'][{name!r}]", "set by AsyncWorker, not by hand", name,
                                 "use the matching AsyncWorker prop (process, fifo, raw_body, idempotency*)")
            reserved = props.get("reserved_concurrent_executions")
            concurrency = p["max_concurrency"]
            if reserved is not None and concurrency is not None and not is_token(reserved) \
                    and not is_token(concurrency) and concurrency > reserved:
                problems.add("max_concurrency", f"at most reserved_concurrent_executions ({reserved})",
                             concurrency, "lower it: polling above the reserved concurrency only throttles, and "
                             "throttled messages use up max_receive_count")
        if process is not None and (handler is None or props is not None) and (props or {}).get("code") is None:
            module = process.partition(":")[0]
            problems.add("code", f"the code that holds the process module {module!r}", None,
                         "pass code=lambda_.Code.from_asset('src') (or handler={'code': ...}) with the folder "
                         f"that holds {module.replace('.', '/')}.py; the worker runtime arrives as a layer")
        elif process is not None:
            # The module the worker runtime will import, checked in the worker's own code (read, not imported).
            _handlers.add_to(problems, _handlers.check_handler(
                process, (props or {}).get("code"), prop="process", form="process",
                runtime_roots=[_handlers.LIBRARY_RUNTIME], opaque_layers=bool((props or {}).get("layers"))))

        fifo = p["fifo"]
        if p["content_based_deduplication"] is not None and not fifo:
            problems.add("content_based_deduplication", "used only with fifo=True", p["content_based_deduplication"],
                         "drop it, or pass fifo=True")
        encryption = p["encryption"]
        if encryption not in (sqs.QueueEncryption.KMS, sqs.QueueEncryption.SQS_MANAGED):
            problems.add("encryption", "QueueEncryption.KMS or QueueEncryption.SQS_MANAGED", encryption.value,
                         "unencrypted queues are not allowed, and SNS/EventBridge cannot use the AWS-managed "
                         "aws/sqs key")
        if p["encryption_key"] is not None and encryption != sqs.QueueEncryption.KMS:
            problems.add("encryption_key", "used only with encryption=QueueEncryption.KMS", "set",
                         "drop it, or pass encryption=QueueEncryption.KMS")
        low, high = defaults.RETENTION_RANGE_SECONDS
        retention = seconds(p["retention_period"])
        if retention is not None and not low <= retention <= high:
            problems.add("retention_period", f"between {low} seconds and {high // 86400} days (the SQS limits)",
                         retention, "pass between Duration.minutes(1) and Duration.days(14)")
        low, high = defaults.MAX_RECEIVE_RANGE
        problems.check_range("max_receive_count", p["max_receive_count"], low, high, "",
                             f"pass e.g. max_receive_count={defaults.MAX_RECEIVE_COUNT.value}")

        dlq = p["dead_letter_queue"]
        if dlq is not None and bool(getattr(dlq, "fifo", False)) != fifo:
            kind = "a FIFO queue" if fifo else "a standard queue"
            problems.add("dead_letter_queue", f"{kind}, like the source queue", dlq.node.path,
                         "SQS moves messages only between queues of the same type; pass a matching DLQ or let "
                         "AsyncWorker create one")

        batch, window = p["batch_size"], p["max_batching_window"]
        window_seconds = seconds(window)
        if fifo:
            low, high = defaults.BATCH_SIZE_RANGE_FIFO
            problems.check_range("batch_size", batch, low, high, "for a FIFO queue",
                                 "pass 1-10; FIFO event sources take at most 10 messages per batch")
            if window is not None:
                problems.add("max_batching_window", "unset for a FIFO queue", window.to_human_string(),
                             "Lambda does not support batching windows on FIFO queues; drop it")
        else:
            low, high = defaults.BATCH_SIZE_RANGE_STANDARD
            problems.check_range("batch_size", batch, low, high, "",
                                 "pass 1-10000 (the Lambda limit for standard queues)")
            if not is_token(batch) and batch > defaults.BATCH_SIZE_WITHOUT_WINDOW and not window_seconds \
                    and (window is None or not is_token(window.to_string())):
                problems.add("batch_size", f"at most {defaults.BATCH_SIZE_WITHOUT_WINDOW} without "
                             "max_batching_window", batch,
                             "Lambda needs a batching window to gather more than 10 messages; pass e.g. "
                             "max_batching_window=Duration.seconds(5), or batch_size=10")
        low, high = defaults.MAX_BATCHING_WINDOW_RANGE_SECONDS
        problems.check_range("max_batching_window", window_seconds, low, high, "seconds",
                             "pass between Duration.seconds(0) and Duration.minutes(5)")
        low, high = defaults.MAX_CONCURRENCY_RANGE
        problems.check_range("max_concurrency", p["max_concurrency"], low, high, "",
                             "pass 2-1000 (the Lambda limits for SQS), or leave it unset")

        visibility, minimum = p["visibility_timeout"], p["minimum_visibility"]
        visibility_seconds = seconds(visibility)
        if minimum is None and visibility is None:
            problems.add("visibility_timeout", "set when the function timeout is a token", None,
                         "pass visibility_timeout explicitly (at least 6 x the timeout + the batching window)")
        if visibility_seconds is not None and minimum is not None and visibility_seconds < minimum:
            problems.add("visibility_timeout", f"at least {minimum} seconds (6 x the function timeout + "
                         "max_batching_window)", visibility_seconds,
                         f"pass visibility_timeout=Duration.seconds({minimum}) or leave it unset; a shorter value "
                         "makes a message visible again while a retried invocation is still processing it")
        if visibility_seconds is not None and visibility_seconds > defaults.VISIBILITY_TIMEOUT_MAX_SECONDS:
            problems.add("visibility_timeout", f"at most {defaults.VISIBILITY_TIMEOUT_MAX_SECONDS} seconds (12 h)",
                         visibility_seconds, "lower the function timeout or the batching window")

        if not p["idempotency"]:
            for name in ("idempotency_window", "idempotency_key"):
                if p[name] is not None:
                    problems.add(name, "used only with idempotency=True", "set",
                                 f"pass idempotency=True, or drop {name}")
        else:
            window_s = seconds(p["idempotency_window"])
            if window_s is not None and visibility_seconds is not None and window_s < visibility_seconds:
                problems.add("idempotency_window", f"at least the visibility timeout ({visibility_seconds:g} "
                             "seconds)", window_s, "a message redelivered after a lost delete arrives one "
                             "visibility timeout later and must still be remembered; pass e.g. Duration.hours(1)")
            if p["idempotency_key"] is not None and not p["idempotency_key"].strip():
                problems.add("idempotency_key", "a JMESPath expression", p["idempotency_key"],
                             "pass e.g. 'body.order_id', or leave it unset to key on the whole body")
        if p["dead_letter_alarm_threshold"] < 1:
            problems.add("dead_letter_alarm_threshold", "at least 1", p["dead_letter_alarm_threshold"],
                         "an alarm at 0 would always fire")
        age = seconds(p["age_alarm_threshold"])
        if age is not None and age < defaults.AGE_ALARM_MIN_SECONDS:
            problems.add("age_alarm_threshold", f"at least {defaults.AGE_ALARM_MIN_SECONDS} seconds", age,
                         "SQS publishes the metric every minute; pass e.g. Duration.minutes(15)")
        problems.raise_if_any()

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

    def _idempotency_table(self, key: kms.IKey) -> dynamodb.Table:
        table = DataTable(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name=IDEMPOTENCY_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=IDEMPOTENCY_TTL_ATTRIBUTE,
            # Records expire within the idempotency window; a deleted stack has nothing here worth keeping.
            removal_policy=cdk.RemovalPolicy.DESTROY,
            backup=False,
            no_backup_reason="It holds only idempotency records that expire after the idempotency window (1 h by "
                             "default); a restored copy would be stale on arrival, and losing the table only "
                             "reopens that window for duplicates.",
        )
        return table

    def _worker(
        self,
        id: str,
        handler: lambda_.IFunction | Mapping[str, Any] | None,
        props: dict[str, Any] | None,
        process: str | None,
    ) -> lambda_.IFunction:
        if handler is not None and not isinstance(handler, Mapping):
            return handler
        props = dict(props or {})
        environment = dict(props.pop("environment", None) or {})
        if process is not None:
            props["handler"] = WORKER_ENTRY
            environment[ENV_PROCESS] = process
        props.setdefault("service_name", id)
        props.setdefault("description", f"Worker of the queue {self.node.path}")
        return ObservedFunction(self, "Worker", environment=environment, **props)

    def _configure_runtime(
        self, *, raw_body: bool, idempotency_window: cdk.Duration | None, idempotency_key: str | None
    ) -> None:
        fn = self.function
        if not (self.fifo or raw_body or self.idempotency_table is not None):
            return
        if not isinstance(fn, lambda_.Function):
            self._raise("__init__", "handler", "a lambda_.Function when fifo, raw_body or idempotency is set",
                        fn.node.path, "these settings reach the runtime through environment variables, which an "
                        "imported function cannot take; set them on the function where it is defined")
            return
        if self.fifo:
            fn.add_environment(ENV_FIFO, "true")
        if raw_body:
            fn.add_environment(ENV_RAW_BODY, "true")
        table = self.idempotency_table
        if table is not None:
            assert idempotency_window is not None
            fn.add_environment(ENV_IDEMPOTENCY_TABLE, table.table_name)
            fn.add_environment(ENV_IDEMPOTENCY_TTL_SECONDS, str(int(idempotency_window.to_seconds())))
            if idempotency_key:
                fn.add_environment(ENV_IDEMPOTENCY_KEY, idempotency_key)
            # Exactly what Powertools' DynamoDB persistence layer calls, and the key operations DynamoDB needs
            # for a table encrypted with a customer-managed key.
            table.grant(fn, *IDEMPOTENCY_TABLE_ACTIONS)
            assert table.encryption_key is not None
            table.encryption_key.grant(fn, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*",
                                       "kms:DescribeKey")

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

    def _api_send_role(self) -> iam.Role:
        if self._api_role is None:
            role = iam.Role(self, "ApiSendRole", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                            description=f"API Gateway sends request bodies to the queue of {self.node.path}")
            statements = [iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])]
            if self._key is not None:
                statements.append(iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"],
                                                      resources=[self._key.key_arn]))
            # A customer-managed policy, not the inline one HttpSqsIntegration would create (IAMNoInlinePolicy),
            # and with the key permission an encrypted queue needs.
            iam.ManagedPolicy(self, "ApiSendPolicy", roles=[role], statements=statements,
                              description=f"SendMessage to the queue of {self.node.path} only")
            self._api_role = role
        return self._api_role

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

    def _acknowledge(self, *, own_dead_letter_queue: bool) -> None:
        acknowledge(
            self.event_source_mapping, Pack.SERVERLESS, "Serverless-LambdaEventSourceMappingDestination",
            f"{self.event_source_mapping.node.path} reads an SQS queue, and Lambda supports on-failure destinations "
            "only for stream and Kafka sources: a message that keeps failing moves to the queue's own dead-letter "
            f"queue after {self.max_receive_count} receives, where an alarm and the redrive command wait for it.",
        )
        if own_dead_letter_queue:
            acknowledge(
                self.dead_letter_queue, Pack.SERVERLESS, "Serverless-SQSRedrivePolicy",
                f"{self.dead_letter_queue.node.path} is the dead-letter queue of {self.queue.node.path}; a DLQ of "
                "its own would only move the problem. Its depth alarms, and the redrive command moves its "
                "messages back.",
            )

    def _create_alarms(self, dlq_threshold: int, age_threshold: cdk.Duration) -> None:
        path = self.node.path
        redrive = f"python -m lambda_manifest.redrive {self._stack_output_ref('DeadLetterQueueUrl')}"
        self.alarms["DeadLetterQueueNotEmpty"] = monitoring.create_alarm(
            self, "DeadLetterQueueAlarm", metric=self.metric_dead_letter_messages(), threshold=dlq_threshold,
            action_topic=self.alarm_topic,
            description=(
                f"{path}: {dlq_threshold}+ messages failed {self.max_receive_count} times and wait in the "
                f"dead-letter queue. Read the worker's 'record failed' log lines (message_id, reason), fix the "
                f"cause, then inspect with: {redrive} --dry-run; move them back with: {redrive} "
                "(an SQS message-move task; --no-move-task copies instead)."
            ),
        )
        age = int(age_threshold.to_seconds())
        self.alarms["OldestMessageAge"] = monitoring.create_alarm(
            self, "OldestMessageAgeAlarm", metric=self.metric_oldest_message_age(), threshold=age,
            action_topic=self.alarm_topic,
            description=(
                f"{path}: the oldest message has waited {age}+ seconds, longer than its whole retry budget: the "
                "worker is not keeping up or not running. Check the event source mapping is enabled, the "
                "worker's errors and throttles, and max_concurrency."
            ),
        )
        for name in ("Errors", "Throttles"):
            alarm = getattr(self.function, "alarms", {}).get(name)
            if alarm is not None:
                self.alarms[f"Worker{name}"] = alarm

    def _add_dashboard_row(self, dashboard: cloudwatch.Dashboard) -> None:
        dashboard.add_widgets(monitoring.header(f"Queue {self.node.path}"))
        dashboard.add_widgets(
            monitoring.graph("Queue depth (visible / in flight)",
                             [self.metric_visible_messages(), self.metric_in_flight_messages()],
                             [self.metric_messages_sent(), self.metric_messages_deleted()]),
            monitoring.graph("Age of oldest message (s)", [self.metric_oldest_message_age()]),
            monitoring.graph("Dead-letter queue depth", [self.metric_dead_letter_messages()]),
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


class _QueueSendIntegration(apigwv2_integrations.HttpSqsIntegration):
    """``HttpSqsIntegration`` (SQS-SendMessage) with a role that has a managed policy and the queue key, and a
    response status override."""

    def __init__(
        self,
        id: str,
        *,
        queue: sqs.IQueue,
        role: iam.IRole,
        parameter_mapping: apigwv2.ParameterMapping,
        accepted_status: int | None,
    ) -> None:
        super().__init__(id, queue=queue, parameter_mapping=parameter_mapping,
                         subtype=apigwv2.HttpIntegrationSubtype.SQS_SEND_MESSAGE)
        self._role = role
        self._mapping = parameter_mapping
        self._accepted_status = accepted_status
        self._id = id

    def bind(self, *, route: apigwv2.IHttpRoute, scope: Construct) -> apigwv2.HttpRouteIntegrationConfig:
        return apigwv2.HttpRouteIntegrationConfig(
            type=apigwv2.HttpIntegrationType.AWS_PROXY,
            subtype=apigwv2.HttpIntegrationSubtype.SQS_SEND_MESSAGE,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_1_0,
            credentials=apigwv2.IntegrationCredentials.from_role(self._role),
            connection_type=apigwv2.HttpConnectionType.INTERNET,
            parameter_mapping=self._mapping,
        )

    def _complete_bind(self, *, route: apigwv2.IHttpRoute, scope: Construct) -> None:
        # Called by HttpRouteIntegration after it created the integration under the route (``scope``).
        if self._accepted_status is None:
            return
        integration = scope.node.try_find_child(self._id)
        resource = integration.node.default_child if integration is not None else None
        if isinstance(resource, apigwv2.CfnIntegration):
            resource.add_property_override("ResponseParameters", {
                "200": {"ResponseParameters": [
                    {"Destination": "overwrite:statuscode", "Source": str(self._accepted_status)}]},
            })


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

    def __init__(self, worker: AsyncWorker) -> None:
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


def _is_function(value: Any) -> bool:
    # jsii interfaces are not runtime-checkable; every IFunction has these two.
    return hasattr(value, "function_arn") and hasattr(value, "add_event_source")


def _visibility_of(queue: sqs.IQueue) -> cdk.Duration | None:
    """The visibility timeout of a queue defined in this app (SQS's default of 30 s when it sets none)."""
    resource = queue.node.default_child if isinstance(queue, sqs.Queue) else None
    if not isinstance(resource, sqs.CfnQueue):
        return None
    value = resource.visibility_timeout
    return cdk.Duration.seconds(30 if value is None else value)
