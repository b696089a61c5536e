"""OrdersStack: an e-commerce order backend that never loses an order.

``POST /orders`` (HTTP API, JWT-authorized) puts the request body straight on the order queue - no Lambda in
between, the client gets 202 with the SQS message id. The order worker (``orders.worker``) validates the order,
stores it once in a KMS-encrypted DynamoDB table and publishes ``order_created`` once to an encrypted SNS topic.
The notification worker (``orders.notify``), subscribed to the topic through its own queue, records the order
confirmation. Every night ``orders.reconcile`` re-publishes ``order_created`` for any order of the last day
that has no confirmation yet.

The JWT issuer and audience are placeholders: set your identity provider with
``cdk synth -c orders:jwt_issuer=https://<your-idp>/ -c orders:jwt_audience=<client id>``.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambda_manifest import (
    AsyncWorker,
    Authorizer,
    DataTable,
    FunctionOptions,
    HttpServerlessApi,
    ObservedFunction,
    StackResources,
)
from stacks.code import app_code

PLACEHOLDER_ISSUER = "https://auth.example.com/"
PLACEHOLDER_AUDIENCE = "orders-api"
BY_DAY_INDEX = "by-day"
ORDER_CREATED = "order_created"


class OrdersStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        key = StackResources.of(self).key

        # One table: ORDER#<id> items (in the by-day index) and NOTIFICATION#<id> items (not indexed).
        self.orders = DataTable(
            self, "OrdersTable", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
        )
        self.orders_table = self.orders
        self.orders_table.add_global_secondary_index(
            index_name=BY_DAY_INDEX,
            partition_key=dynamodb.Attribute(name="gsi1pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="gsi1sk", type=dynamodb.AttributeType.STRING),
            # The reconciliation reads whole orders from the index: no second read per order.
            projection_type=dynamodb.ProjectionType.ALL,
        )

        self.order_events = sns.Topic(
            self, "OrderEvents", display_name="Order events (order_created)", master_key=key, enforce_ssl=True
        )

        # POST /orders -> queue -> order worker.
        self.api = HttpServerlessApi(
            self,
            "Api",
            description="lambda-manifest example: orders API",
            authorizer=Authorizer.jwt(
                issuer=self.node.try_get_context("orders:jwt_issuer") or PLACEHOLDER_ISSUER,
                audience=[self.node.try_get_context("orders:jwt_audience") or PLACEHOLDER_AUDIENCE],
            ),
        )
        self.order_worker = AsyncWorker(
            self,
            "OrderWorker",
            function=FunctionOptions(
                handler="orders.worker.main",
                code=app_code("orders"),
                description="Stores each order once and publishes order_created once",
                environment={
                    "ORDERS_TABLE_NAME": self.orders_table.table_name,
                    "ORDER_EVENTS_TOPIC_ARN": self.order_events.topic_arn,
                },
            ),
            # A redelivered message (or a client retrying the same order) is processed once per hour; the
            # worker's conditional put covers the rest, so an order is never stored or announced twice.
            idempotency=True,
        )
        self.order_route = self.order_worker.add_api_route(self.api, "POST /orders")
        # put_item (conditional), get_item (read back a concurrent first write), update_item (event_published_at).
        self._grant_items(self.order_worker, "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem")
        self.order_events.grant_publish(self.order_worker)

        # order_created -> topic -> notification queue -> notification worker.
        self.notify_worker = AsyncWorker(
            self,
            "NotifyWorker",
            function=FunctionOptions(
                handler="orders.notify.main",
                code=app_code("orders"),
                description="Records the confirmation of each order_created event once",
                environment={"ORDERS_TABLE_NAME": self.orders_table.table_name},
            ),
            # No idempotency table: the confirmation is a conditional put keyed on the order id, which is
            # idempotent for ever, not only within a window.
        )
        self.notify_worker.add_sns_subscription(
            self.order_events,
            filter_policy={"event_type": sns.SubscriptionFilter.string_filter(allowlist=[ORDER_CREATED])},
        )
        self._grant_items(self.notify_worker, "dynamodb:PutItem", "dynamodb:GetItem")

        # Nightly reconciliation: one scheduled run, invoked asynchronously (see the README for why not a queue).
        self.reconcile = ObservedFunction(
            self,
            "Reconcile",
            handler="orders.reconcile.main",
            code=app_code("orders"),
            description="Re-publishes order_created for orders of the last day without a confirmation",
            timeout=cdk.Duration.minutes(5),
            memory_size=512,
            async_invocation=True,
            environment={
                "ORDERS_TABLE_NAME": self.orders_table.table_name,
                "ORDER_EVENTS_TOPIC_ARN": self.order_events.topic_arn,
                "ORDERS_BY_DAY_INDEX": BY_DAY_INDEX,
            },
        )
        self.orders_table.grant(self.reconcile, "dynamodb:BatchGetItem", "dynamodb:GetItem")
        self.reconcile.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"],
            resources=[f"{self.orders_table.table_arn}/index/{BY_DAY_INDEX}"],
        ))
        key.grant(self.reconcile, "kms:Decrypt", "kms:DescribeKey")
        self.order_events.grant_publish(self.reconcile)
        self.schedule = self.reconcile.add_schedule(
            "Schedule", events.Schedule.cron(minute="0", hour="3"),
            description="Nightly order reconciliation at 03:00 UTC",
        )

        cdk.CfnOutput(self, "OrdersTableName", value=self.orders_table.table_name)
        cdk.CfnOutput(self, "OrderEventsTopicArn", value=self.order_events.topic_arn)

    def _grant_items(self, worker: AsyncWorker, *actions: str) -> None:
        """Item actions on the orders table, and the key use DynamoDB needs for a customer-managed key."""
        self.orders_table.grant(worker, *actions)
        assert self.orders_table.encryption_key is not None
        self.orders_table.encryption_key.grant(
            worker, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"
        )
