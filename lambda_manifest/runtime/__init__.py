"""The code the constructs deploy into Lambda: the HTTP toolkit, the queue worker, the authorizer, the AI gateway.

Each subpackage is delivered to the functions that run it (see ``lambda_manifest._assets``), so an app's own
handlers import it under the same name in Lambda, in the local runner and in their tests:
``from lambda_manifest.runtime.worker import WorkerRecord``. Nothing here imports aws-cdk-lib.
"""

import os

# Set by ObservedFunction(trace_aws_sdk=True). Every runtime imports this package first, so botocore is
# patched before the function creates its first client; the X-Ray SDK (with botocore, about 200 ms of a 3.14
# cold start) is imported only then.
TRACE_AWS_SDK_ENV = "LM_TRACE_AWS_SDK"


def _trace_aws_sdk() -> None:
    try:
        from aws_xray_sdk.core import patch  # type: ignore[import-untyped]
    except ImportError:  # no Powertools layer: the function still runs, without SDK subsegments
        import logging

        logging.getLogger(__name__).warning(
            "%s is set but the X-Ray SDK is not importable (it comes with the Powertools layer); "
            "AWS SDK calls are not traced", TRACE_AWS_SDK_ENV)
        return
    patch(("botocore",))


if os.environ.get(TRACE_AWS_SDK_ENV, "").strip().lower() in ("1", "true", "yes"):
    _trace_aws_sdk()
