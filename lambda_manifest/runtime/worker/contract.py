"""The contract between the worker runtime and the ``AsyncWorker`` construct.

Both sides import this module normally: the construct sets the handler, the environment, the idempotency
table's key and TTL and the grants from it, and the runtime reads the same names. Standard library only:
nothing is imported, so the construct can read it without Powertools installed.
"""

# The generic entry point (handler.py): it imports and runs the function ENV_PROCESS names.
HANDLER = "lambda_manifest.runtime.worker.handler.main"

# -- Environment (read by handler.py and runtime.WorkerSettings) ------------------------------------------------
ENV_PROCESS = "LM_WORKER_PROCESS"  # "package.module:function"
ENV_FIFO = "LM_WORKER_FIFO"  # "true": stop a message group at its first failure
ENV_RAW_BODY = "LM_WORKER_RAW_BODY"  # "true": pass a body that is not JSON on as text
ENV_IDEMPOTENCY_TABLE = "LM_WORKER_IDEMPOTENCY_TABLE"  # set: run each record under idempotency
ENV_IDEMPOTENCY_KEY = "LM_WORKER_IDEMPOTENCY_KEY"  # JMESPath over {"body", "group_id"}
ENV_IDEMPOTENCY_TTL_SECONDS = "LM_WORKER_IDEMPOTENCY_TTL_SECONDS"
# Every variable the runtime reads, so a construct can refuse to let an app set them behind its back.
ENV_NAMES = (ENV_PROCESS, ENV_FIFO, ENV_RAW_BODY, ENV_IDEMPOTENCY_TABLE, ENV_IDEMPOTENCY_KEY,
             ENV_IDEMPOTENCY_TTL_SECONDS)  # fmt: skip

# -- The idempotency table: what Powertools' DynamoDB persistence layer reads and writes ----------------------
IDEMPOTENCY_PARTITION_KEY = "id"  # string; no sort key
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"  # epoch seconds

# -- AWS actions the runtime calls, by the resource they are granted on ------------------------------------------
# The idempotency table: PutItem claims a record (conditionally), UpdateItem saves the result, DeleteItem drops
# the claim when process raised. A record that already exists comes back with the failed conditional put
# (ReturnValuesOnConditionCheckFailure), so Powertools never reads one with GetItem (it would only with a
# boto3 older than 1.26.164, far older than any Lambda runtime's); no queries either.
IDEMPOTENCY_TABLE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
