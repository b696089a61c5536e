"""A moto server on 127.0.0.1 that lives exactly as long as its parent.

``python -I _moto_main.py [PORT] [--rehearsal] [--verbose]`` binds the port (0 picks a free one), prints
``READY <port>`` and serves until its stdin closes: when the runner exits, even by SIGKILL, the pipe closes
and this process stops, so no moto server is ever left behind. Without ``--verbose`` it logs no requests and
no warnings; stdout and stderr go to the runner either way (shown with ``--verbose``, and when start-up
fails).

``--rehearsal`` (used by the deploy rehearsal only) fills two gaps in moto 5.2's CloudFormation, inside this
process and nowhere else:

- ``AWS::SecretsManager::Secret`` is not a CloudFormation type moto knows, so a ``Ref`` to a secret resolves
  to nothing and the IAM policy that grants it is rejected ("Policy statement must contain resources"). The
  secret is now created, with its ``SecretString`` or a placeholder for ``GenerateSecretString``.
- A change set (the CLI's deploy path) can create an ``AWS::ApiGateway::Deployment`` before the methods it
  depends on, and moto then refuses it ("The REST API doesn't contain any methods"). The deployment is
  created anyway; API Gateway itself orders these by ``DependsOn``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import traceback
from typing import Any


def _patch_for_rehearsal() -> None:
    from moto.apigateway import exceptions as apigw_exceptions
    from moto.apigateway.models import APIGatewayBackend
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class RehearsalSecret(CloudFormationModel):
        __module__ = "moto.secretsmanager.rehearsal"  # moto files models by the second part of the module

        def __init__(self, arn: str, name: str) -> None:
            self.arn = arn
            self.name = name
            self.physical_resource_id = arn

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Id"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                            account_id: str, region_name: str, **kwargs: Any) -> RehearsalSecret:
            props = cloudformation_json.get("Properties", {}) or {}
            name = str(props.get("Name") or resource_name)
            value = props.get("SecretString")
            if not isinstance(value, str):
                value = "rehearsal-placeholder-" + resource_name
            created = json.loads(secretsmanager_backends[account_id][region_name].create_secret(
                name=name, secret_string=value, secret_binary=None, description=props.get("Description"),
                tags=None, kms_key_id=None, client_request_token=None, replica_regions=[], force_overwrite=False))
            return cls(str(created["ARN"]), name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: dict[str, Any], account_id: str,
                                            region_name: str) -> Any:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                            account_id: str, region_name: str) -> None:
            backend = secretsmanager_backends[account_id][region_name]
            with contextlib.suppress(Exception):
                backend.delete_secret(resource_name, None, True)

        def is_created(self) -> bool:
            return True

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()

    original = APIGatewayBackend.create_deployment

    def create_deployment(self: Any, function_id: str, name: str, description: str = "",
                          stage_variables: Any = None) -> Any:
        try:
            return original(self, function_id, name, description, stage_variables)
        except (apigw_exceptions.NoMethodDefined, apigw_exceptions.NoIntegrationDefined):
            api = self.get_rest_api(function_id)
            return api.create_deployment(name, description, stage_variables or {})

    APIGatewayBackend.create_deployment = create_deployment  # type: ignore[method-assign]


def _fail_fast(args: threading.ExceptHookArgs) -> None:
    """ThreadedMotoServer binds its port in a thread and waits for it forever: a bind error (a taken
    ``--moto-port``) must end this process, so the runner reports it at once with what it printed."""
    code = 1
    if isinstance(args.exc_value, SystemExit):
        # werkzeug has printed why ("Address already in use") before exiting: no traceback to add.
        code = args.exc_value.code if isinstance(args.exc_value.code, int) else 1
    else:
        traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    port = int(args[0]) if args else 0
    verbose = "--verbose" in sys.argv
    if verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    else:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # werkzeug logs every request at INFO
    import warnings

    warnings.simplefilter("default" if verbose else "ignore")  # moto warns about every CloudFormation type it skips
    if "--rehearsal" in sys.argv:
        _patch_for_rehearsal()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=verbose)
    threading.excepthook = _fail_fast
    server.start()
    threading.excepthook = threading.__excepthook__
    print(f"READY {server.get_host_and_port()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
