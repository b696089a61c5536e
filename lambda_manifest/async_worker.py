"""AsyncWorker: an SQS queue, its dead-letter queue and a worker ObservedFunction that never lose a message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest import monitoring
from lambda_manifest._api_options import QueueSend, Throttle
from lambda_manifest._function_props import FunctionOptions
from lambda_manifest._validation import Problems
from lambda_manifest._worker_props import WorkerProps
from lambda_manifest._worker_sources import WorkerQueues
from lambda_manifest.compliance import Pack, acknowledge
from lambda_manifest.data_table import DataTable
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.runtime.worker.contract import (
    ENV_FIFO,
    ENV_IDEMPOTENCY_KEY,
    ENV_IDEMPOTENCY_TABLE,
    ENV_IDEMPOTENCY_TTL_SECONDS,
    ENV_RAW_BODY,
    IDEMPOTENCY_PARTITION_KEY,
    IDEMPOTENCY_TABLE_ACTIONS,
    IDEMPOTENCY_TTL_ATTRIBUTE,
)
from lambda_manifest.shared import StackResources

if TYPE_CHECKING:
    from constructs import Construct as _Construct

    from lambda_manifest.serverless_api import ApiRoute, IServerlessApi

__all__ = ["AsyncWorker"]




@jsii.implements(iam.IGrantable)
class AsyncWorker(WorkerQueues):
    """An SQS queue, its dead-letter queue and a worker :class:`ObservedFunction`, wired by an event source
    mapping that reports partial batch failures. Unsafe settings are synth-time errors.

    The usual worker runs the shipped runtime (``lambda_manifest.runtime.worker``): write
    ``def process(record) -> None`` and pass ``process="my_service.jobs:process"`` with the ``code`` that holds
    it. Every default comes from :mod:`lambda_manifest._defaults`; docs/constructs/async-worker.md lists each prop
    with its default and range.

    Parameters
    ----------
    process:
        ``"package.module:function"`` run by the shipped runtime: the worker's handler becomes
        ``lambda_manifest.runtime.worker.handler.main`` with ``LM_WORKER_PROCESS`` set. Default: - none; then
        ``function`` names its own handler.
    code:
        The code that holds the ``process`` module (or the handler of ``function``), e.g.
        ``Code.from_asset("src")``; the same as ``FunctionOptions(code=...)``. The worker runtime arrives as the
        stack's worker layer. Default: - ``function``'s ``code``; one of the two is required with ``process``.
    function:
        The worker: ``FunctionOptions(...)`` for the ``ObservedFunction`` created as the child ``Worker``
        (``service_name`` defaults to this construct's id; no ``handler`` with ``process``), or any Lambda
        function of your own. Default: - an ``ObservedFunction`` running ``process``.
    queue:
        An existing queue to work on (with a dead-letter queue, or ``dead_letter_queue=`` naming it); the queue
        props below must then be unset. Default: - a new encrypted queue.
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
        process: str | None = None,
        code: lambda_.Code | None = None,
        function: lambda_.IFunction | FunctionOptions | None = None,
        queue: sqs.IQueue | None = None,
        fifo: bool | None = None,
        content_based_deduplication: bool | None = None,
        encryption: sqs.QueueEncryption | None = None,
        encryption_key: kms.IKey | None = None,
        retention_period: cdk.Duration | None = None,
        visibility_timeout: cdk.Duration | None = None,
        max_receive_count: int | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        batch_size: int | None = None,
        max_batching_window: cdk.Duration | None = None,
        max_concurrency: int | None = None,
        raw_body: bool | None = None,
        idempotency: bool | None = None,
        idempotency_window: cdk.Duration | None = None,
        idempotency_key: str | None = None,
        alarm_topic: sns.ITopic | None = None,
        dead_letter_alarm_threshold: int | None = None,
        age_alarm_threshold: cdk.Duration | None = None,
        dashboard: bool | None = None,
    ) -> None:
        super().__init__(scope, id)
        props = WorkerProps.resolve(
            id, self.node.path, function=function, process=process, code=code, queue=queue, fifo=fifo,
            content_based_deduplication=content_based_deduplication, encryption=encryption,
            encryption_key=encryption_key, retention_period=retention_period, visibility_timeout=visibility_timeout,
            max_receive_count=max_receive_count, dead_letter_queue=dead_letter_queue, batch_size=batch_size,
            max_batching_window=max_batching_window, max_concurrency=max_concurrency, raw_body=raw_body,
            idempotency=idempotency, idempotency_window=idempotency_window, idempotency_key=idempotency_key,
            dead_letter_alarm_threshold=dead_letter_alarm_threshold, age_alarm_threshold=age_alarm_threshold,
            dashboard=dashboard,
        )
        # The worker first: the queue's visibility timeout follows from the timeout it was built with.
        worker_options = props.function
        self.function: lambda_.IFunction = (
            ObservedFunction(self, "Worker", **worker_options.given())
            if isinstance(worker_options, FunctionOptions) else worker_options
        )
        props = props.with_function_timeout(
            id, self.function.timeout if isinstance(self.function, lambda_.Function) else None)
        visibility_timeout = props.visibility_timeout
        assert visibility_timeout is not None  # with_function_timeout rejects a worker without one

        shared = StackResources.of(self)
        self._props = props
        self.fifo = props.fifo
        self.max_receive_count = props.max_receive_count
        self.visibility_timeout = visibility_timeout
        self.alarm_topic: sns.ITopic = alarm_topic or shared.alarm_topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._encryption = props.encryption
        self._key: kms.IKey | None = (props.encryption_key or shared.key) \
            if props.encryption == sqs.QueueEncryption.KMS else None
        self._shared_key = shared.key
        self._content_based_deduplication = bool(props.content_based_deduplication)
        self._delivery_dlqs: dict[bool, sqs.Queue] = {}
        self._api_role: iam.Role | None = None
        self._output_prefix = self._logical_prefix()

        # Then in the order messages flow: where failures end, the queue, the wiring, then how we watch it.
        self.dead_letter_queue: sqs.IQueue = props.dead_letter_queue or self._queue(
            "DeadLetterQueue", fifo=self.fifo, retention=cdk.Duration.days(defaults.DLQ_RETENTION_DAYS.value)
        )
        self.queue: sqs.IQueue = props.queue or self._queue(
            "Queue",
            fifo=self.fifo,
            retention=props.retention_period,
            visibility_timeout=visibility_timeout,
            dead_letter=sqs.DeadLetterQueue(max_receive_count=props.max_receive_count, queue=self.dead_letter_queue),
            content_based_deduplication=props.content_based_deduplication if self.fifo else None,
        )

        self.idempotency_table: dynamodb.Table | None = None
        if props.idempotency:
            self.idempotency_table = self._idempotency_table()
        self._configure_runtime()

        self.event_source = event_sources.SqsEventSource(
            self.queue,
            batch_size=props.batch_size,
            max_batching_window=props.max_batching_window if not self.fifo else None,
            max_concurrency=props.max_concurrency,
            report_batch_item_failures=True,
        )
        invocable = self.function.invocable if isinstance(self.function, ObservedFunction) else self.function
        invocable.add_event_source(self.event_source)
        mapping = invocable.node.try_find_child(
            f"SqsEventSource:{cdk.Names.node_unique_id(self.queue.node)}")
        assert isinstance(mapping, lambda_.EventSourceMapping)
        self.event_source_mapping: lambda_.EventSourceMapping = mapping
        self._acknowledge(own_dead_letter_queue=props.dead_letter_queue is None)

        age_threshold = props.age_alarm_threshold or cdk.Duration.seconds(
            max(defaults.AGE_ALARM_MIN_SECONDS, int(visibility_timeout.to_seconds()) * props.max_receive_count)
        )
        self._create_alarms(props.dead_letter_alarm_threshold, age_threshold)
        self.dashboard: cloudwatch.Dashboard | None = None
        if props.dashboard:
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
        api: IServerlessApi,
        route: str = "POST /orders",
        *,
        message_group_id: str | None = None,
        accepted_status: int | None = defaults.API_ACCEPTED_STATUS.value,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
        authorization_scopes: Sequence[str] | None = None,
    ) -> ApiRoute[_Construct]:
        """Send each request body straight to the queue: an SQS ``SendMessage`` integration, no Lambda.

        ``api`` is an ``HttpServerlessApi`` (an ``SQS-SendMessage`` integration) or a ``RestServerlessApi`` (an
        AWS integration; it takes JSON bodies). The route uses the API's authorizer (with
        ``authorization_scopes``, for JWT/Cognito) unless ``public_reason`` says why it is public; ``throttle``
        sets a route-level limit. API Gateway assumes a role of its own that may only ``sqs:SendMessage`` to
        this queue (and use its key). The client gets ``accepted_status`` (default 202; ``None`` keeps SQS's
        200) with SQS's SendMessage result as the body, which carries the ``MessageId``. SQS's own errors pass
        through: an empty body is a 400 from SQS.

        For a FIFO queue, ``message_group_id`` is required: a mapping expression such as
        ``"$request.header.X-Group-Id"`` or ``"$context.authorizer.claims.sub"``, or a static value; without
        content-based deduplication the request id is the deduplication id.
        """
        problems = Problems("AsyncWorker.add_api_route", self.node.id)
        if not callable(getattr(api, "add_queue_route", None)):
            problems.add("api", "an HttpServerlessApi or a RestServerlessApi", type(api).__name__,
                         "create the API with HttpServerlessApi(...) or RestServerlessApi(...)")
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
        send = QueueSend(
            queue=self.queue,
            role=self._api_send_role(),
            message_group_id=message_group_id if self.fifo else None,
            deduplication_id="$context.requestId" if self.fifo and not self._content_based_deduplication else None,
            accepted_status=accepted_status,
            id=f"{self.node.id}SendMessage",
        )
        return api.add_queue_route(route, send, public_reason=public_reason, throttle=throttle,
                                   authorization_scopes=authorization_scopes)

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

    # ----------------------------------------------------------------------------------------------
    # Construction steps
    # ----------------------------------------------------------------------------------------------
    def _idempotency_table(self) -> dynamodb.Table:
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

    def _configure_runtime(self) -> None:
        fn, props = self.function, self._props
        if not (self.fifo or props.raw_body or self.idempotency_table is not None):
            return
        if not isinstance(fn, lambda_.Function):
            self._raise("__init__", "function", "a lambda_.Function when fifo, raw_body or idempotency is set",
                        fn.node.path, "these settings reach the runtime through environment variables, which an "
                        "imported function cannot take; set them on the function where it is defined")
            return
        if self.fifo:
            fn.add_environment(ENV_FIFO, "true")
        if props.raw_body:
            fn.add_environment(ENV_RAW_BODY, "true")
        table = self.idempotency_table
        if table is not None:
            assert props.idempotency_window is not None
            fn.add_environment(ENV_IDEMPOTENCY_TABLE, table.table_name)
            fn.add_environment(ENV_IDEMPOTENCY_TTL_SECONDS, str(int(props.idempotency_window.to_seconds())))
            if props.idempotency_key:
                fn.add_environment(ENV_IDEMPOTENCY_KEY, props.idempotency_key)
            # Exactly what Powertools' DynamoDB persistence layer calls, and the key operations DynamoDB needs
            # for a table encrypted with a customer-managed key.
            table.grant(fn, *IDEMPOTENCY_TABLE_ACTIONS)
            assert table.encryption_key is not None
            table.encryption_key.grant(fn, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*",
                                       "kms:DescribeKey")

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
