"""The code the constructs deploy into Lambda: the HTTP toolkit, the queue worker, the authorizer, the AI gateway.

Each subpackage is delivered to the functions that run it (see ``lambda_manifest._assets``), so an app's own
handlers import it under the same name in Lambda, in the local runner and in their tests:
``from lambda_manifest.runtime.worker import WorkerRecord``. Nothing here imports aws-cdk-lib.
"""
