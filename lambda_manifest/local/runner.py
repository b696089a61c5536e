"""The local runner: reads a cloud assembly and runs its stacks on loopback (see ``python -m lambda_manifest.local``).

Why this module is longer than 500 lines: ``LocalRunner`` holds what every piece needs (moto, the resolved
stacks, the function hosts, the API servers, the credentials) and starts the pieces in the order they depend
on each other; what it prints is in ``listing``, where code and layers are found in ``code``.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lambda_manifest.assembly import load_assembly
from lambda_manifest.local import listing
from lambda_manifest.local.cfn import REGION, URL_SUFFIX, ResolveError, Resolver, Stack
from lambda_manifest.local.code import CodeLocator
from lambda_manifest.local.event_sources import (
    AsyncConfig,
    AsyncInvoker,
    AsyncOutcome,
    Dispatcher,
    Schedule,
    SqsMapping,
    SqsPoller,
)
from lambda_manifest.local.extra import INSTALL, POWERTOOLS_MODULE, importable, require_runner_packages
from lambda_manifest.local.functions import FunctionHost, FunctionSpec
from lambda_manifest.local.functions_registry import FunctionRegistry
from lambda_manifest.local.gateway import Request, Response
from lambda_manifest.local.http_api import HttpApi
from lambda_manifest.local.http_server import ApiServer
from lambda_manifest.local.llm import BEDROCK_ENDPOINT_ENV, LocalModel, bedrock_providers, point_providers_at
from lambda_manifest.local.logs import Console
from lambda_manifest.local.rest_api import RestApi
from lambda_manifest.local.services import MotoServer, Provisioned, Provisioner, resolve_environment
from lambda_manifest.local.tokens import (
    LOCAL_API_KEY,
    Credential,
    jwt_authorizer_token,
    lm_api_key_item,
    lm_authorizer_token,
)
from lambda_manifest.local.watch import CodeWatcher
from lambda_manifest.runtime.authorizer import contract as auth_contract

DEFAULT_PORT = 3000


@dataclass
class Options:
    assembly: Path
    app_dir: Path = Path(".")
    stacks: list[str] = field(default_factory=list)
    port: int | None = None  # None: 3000 upwards, or free ports when taken; 0: free ports
    moto_port: int = 0
    secrets_file: Path | None = None
    from_assets: bool = False
    max_concurrency: int = 10
    ready_file: Path | None = None
    max_visibility_timeout: int | None = None
    real_llm: bool = False
    llm_reply: str | None = None
    llm_piece_delay: float = 0.02
    verbose: bool = False  # moto's request log and the SDK's INFO lines, in the runner and in every worker


@dataclass
class ApiEntry:
    kind: str  # "HTTP" | "REST"
    api: HttpApi | RestApi
    server: ApiServer


class LocalRunner:
    def __init__(self, options: Options, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.moto = MotoServer(options.moto_port, console=self.console, verbose=options.verbose)
        self.stacks: list[Stack] = []
        self.resolver: Resolver | None = None
        self.provisioned = Provisioned()
        self.hosts: list[FunctionHost] = []
        self.registry = FunctionRegistry([])
        self.apis: list[ApiEntry] = []
        self.admin: ApiServer | None = None
        self.pollers: list[SqsPoller] = []
        self.schedules: list[Schedule] = []
        self.invoker: AsyncInvoker | None = None
        self.dispatcher: Dispatcher | None = None
        self.watcher: CodeWatcher | None = None
        self.credentials: dict[str, Credential] = {}  # authorizer logical id -> credential
        self.api_keys: dict[str, str] = {}  # REST API label -> key value
        self.warnings: list[str] = []
        self.started_at = 0.0
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="lm-local-")
        self._stopped = False
        self._next_port = options.port if options.port else DEFAULT_PORT
        self.local_model: LocalModel | None = None
        self.gateway_keys: dict[str, str] = {}  # "<stack>/<tenant>" -> virtual key
        self._gateway_hosts: set[str] = set()  # labels of functions taking AI gateway keys (the gateway, MCP tool gateways)
        self._api_urls: dict[str, str] = {}  # API id -> local base URL

    # -- helpers ----------------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.moto.client(service)
            return self._clients[service]

    def _server(self, label: str) -> ApiServer:
        def placeholder(_request: Request) -> Response:
            return Response.message(503, "starting")

        if self.options.port == 0:
            return ApiServer(0, placeholder, self.console, label)
        while True:
            try:
                server = ApiServer(self._next_port, placeholder, self.console, label)
                self._next_port += 1
                return server
            except OSError:
                if self.options.port is not None:
                    raise
                self._next_port += 1
                if self._next_port > DEFAULT_PORT + 200:
                    return ApiServer(0, placeholder, self.console, label)

    # -- start ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.started_at = time.monotonic()
        require_runner_packages()
        assembly = load_assembly(self.options.assembly)
        all_stacks = [Stack(artifact) for artifact in assembly.stacks]
        if self.options.stacks:
            names = {s.name: s for s in all_stacks} | {s.artifact.name: s for s in all_stacks}
            unknown = [n for n in self.options.stacks if n not in names]
            if unknown:
                raise SystemExit(f"unknown stack(s) {unknown}; the assembly has {sorted(s.artifact.name for s in all_stacks)}")
            self.stacks = list({id(names[n]): names[n] for n in self.options.stacks}.values())
        else:
            self.stacks = all_stacks
        self.resolver = Resolver(all_stacks)
        self.moto.start()
        overrides: dict[str, Any] = {}
        if self.options.secrets_file and self.options.secrets_file.exists():
            overrides = json.loads(self.options.secrets_file.read_text())
        self.provisioned = Provisioner(self.moto, self.resolver, self.console, overrides,
                                       self.options.max_visibility_timeout).run(self.stacks)
        self.warnings.extend(self.provisioned.warnings)

        # Bind the API listeners first, so their URLs can be resolved into function environments.
        pending: list[tuple[str, Stack, str, ApiServer]] = []
        for stack in self.stacks:
            for logical, resource in self.resolver.resources(stack, "AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi"):
                if resource["Type"] == "AWS::ApiGatewayV2::Api":
                    protocol = str(self.resolver.resolve(stack, resource.get("Properties", {}).get("ProtocolType", "HTTP")))
                    if protocol != "HTTP":
                        self.warnings.append(f"{stack.name}/{logical}: {protocol} APIs are not emulated")
                        continue
                server = self._server(stack.label(logical))
                physical = self.resolver.physical(stack, logical)
                physical.attributes["ApiEndpoint"] = f"http://127.0.0.1:{server.port}"
                self._api_urls[physical.ref] = f"http://127.0.0.1:{server.port}"
                kind = "HTTP" if resource["Type"] == "AWS::ApiGatewayV2::Api" else "REST"
                pending.append((kind, stack, logical, server))
        self.admin = self._server("local")
        self.admin.app = self._admin
        self.admin.start()

        self._build_functions()
        self.registry = FunctionRegistry(self.hosts)
        for kind, stack, logical, server in pending:
            api: HttpApi | RestApi
            if kind == "HTTP":
                api = HttpApi(stack, logical, self.resolver, self.registry, sqs=self.client("sqs"))
            else:
                api = RestApi(stack, logical, self.resolver, self.registry)
            api.port = server.port
            server.app = api.steps  # a generator: served in the API server's loop
            self.warnings.extend(f"{stack.name}/{api.label}: {p}" for p in api.problems)
            self.apis.append(ApiEntry(kind, api, server))
        self._gateway()
        self.invoker = AsyncInvoker(self.registry, self.client, self.console, self._async_configs())
        self.dispatcher = Dispatcher(self.registry, self.invoker, self.client, self.console)
        self._credentials()
        for entry in self.apis:
            entry.server.start()
        self._event_sources()
        self.watcher = CodeWatcher(self.hosts, self.console)
        self.watcher.start()
        if self.options.ready_file:
            tmp = self.options.ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.ready_info(), indent=2))
            tmp.replace(self.options.ready_file)

    def _build_functions(self) -> None:
        assert self.resolver is not None
        lambda_endpoint = f"http://127.0.0.1:{self.admin.port}" if self.admin else None
        specs: list[FunctionSpec] = []
        source_cache: dict[Path, tuple[Path, Path | None]] = {}
        layer_cache: dict[str, list[Path]] = {}
        locator = CodeLocator(self.options, self.resolver, Path(self._tmp.name), self.warnings)
        for stack in self.stacks:
            for logical, resource in self.resolver.resources(stack, "AWS::Lambda::Function"):
                props = resource.get("Properties", {}) or {}
                try:
                    asset_key = stack.artifact.directory / str((resource.get("Metadata") or {}).get("aws:asset:path", logical))
                    if asset_key in source_cache and "ZipFile" not in (props.get("Code") or {}):
                        code_dir, asset = source_cache[asset_key]
                    else:
                        code_dir, asset = locator.code_dir(stack, logical, props)
                        source_cache[asset_key] = (code_dir, asset)
                    resolved_env = (props.get("Environment") or {}).get("Variables") or {}
                    environment = self._local_urls(resolve_environment(self.resolver, stack, resolved_env))
                    logging_config = self.resolver.resolve(stack, props.get("LoggingConfig") or {})
                    physical = self.resolver.physical(stack, logical)
                    label = stack.label(logical)
                    label = label.removesuffix("/Function") if label.endswith("/Function") else label
                    runtime = str(self.resolver.resolve(stack, props.get("Runtime", "python3.12")))
                    remote_layers, layer_paths = locator.layers(stack, props, runtime, layer_cache)
                    specs.append(FunctionSpec(
                        stack=stack.name, logical_id=logical, label=label, name=physical.ref,
                        arn=physical.attributes["Arn"], handler=str(self.resolver.resolve(stack, props.get("Handler", ""))),
                        runtime=runtime,
                        code_dir=code_dir, asset_dir=asset, environment=environment,
                        timeout=float(self.resolver.resolve(stack, props.get("Timeout", 3))),
                        memory=int(self.resolver.resolve(stack, props.get("MemorySize", 128))),
                        reserved_concurrency=(int(self.resolver.resolve(stack, props["ReservedConcurrentExecutions"]))
                                              if "ReservedConcurrentExecutions" in props else None),
                        log_format=str(logging_config.get("LogFormat", "Text")),
                        log_level=str(logging_config.get("ApplicationLogLevel", "INFO")),
                        system_log_level=str(logging_config.get("SystemLogLevel", "INFO")),
                        layers=remote_layers, layer_paths=layer_paths,
                    ))
                except (ResolveError, KeyError, ValueError, OSError) as exc:
                    self.warnings.append(f"{stack.name}/{logical}: function not runnable locally: {exc}")
        counts: dict[str, int] = {}
        for spec in specs:
            counts[spec.label] = counts.get(spec.label, 0) + 1
        for spec in specs:
            if counts[spec.label] > 1:
                spec.label = f"{spec.stack}/{spec.label}"
            if spec.layers and not importable(POWERTOOLS_MODULE):
                self.warnings.append(f"{spec.label}: layers {spec.layers} are expected in the venv, "
                                     f"but {POWERTOOLS_MODULE} is not installed: {INSTALL}")
            if not spec.supported:
                self.warnings.append(f"{spec.label}: runtime {spec.runtime} is not emulated (Python only)")
        self.hosts = [FunctionHost(spec, console=self.console, endpoint_url=self.moto.endpoint,
                                   max_concurrency=self.options.max_concurrency, lambda_endpoint_url=lambda_endpoint,
                                   verbose=self.options.verbose)
                      for spec in specs]
        notes = dict.fromkeys(host.interpreter.note for host in self.hosts if host.interpreter.note)
        self.warnings.extend(notes)

    def _local_urls(self, environment: dict[str, str]) -> dict[str, str]:
        """``https://<api id>.execute-api.<region>.amazonaws.com`` -> the API's local URL."""
        for api_id, url in self._api_urls.items():
            remote = f"https://{api_id}.execute-api.{REGION}.{URL_SUFFIX}"
            environment = {k: v.replace(remote, url) for k, v in environment.items()}
        return environment

    def _gateway(self) -> None:
        """Wire the library's AI gateway to a local model, and give it virtual keys (see ``llm.py``)."""
        from lambda_manifest.keys import create_key

        for host in self.hosts:
            env = host.spec.environment
            if not host.spec.handler.startswith("lambda_manifest.runtime.gateway.") or "LM_GATEWAY_CONFIG" not in env:
                continue
            try:
                config = json.loads(env["LM_GATEWAY_CONFIG"])
            except json.JSONDecodeError:
                continue
            self._gateway_hosts.add(host.spec.label)
            if not self.options.real_llm:
                changed = point_providers_at(config, self._local_model())
                env["LM_GATEWAY_CONFIG"] = json.dumps(config)
                if changed:
                    self.warnings.append(f"{host.spec.label}: providers {', '.join(changed)} answered by the local "
                                         f"model at {self._local_model().endpoint} (--real-llm to keep them)")
            bedrock = bedrock_providers(config)
            if bedrock:  # even with --real-llm: a function here has no AWS credentials that could reach Bedrock
                env[BEDROCK_ENDPOINT_ENV] = self._local_model().endpoint
                self.warnings.append(f"{host.spec.label}: Bedrock providers {', '.join(bedrock)} answered by the "
                                     f"local model as Bedrock Runtime at {self._local_model().endpoint} "
                                     f"({BEDROCK_ENDPOINT_ENV})")
            table = env.get("LM_GATEWAY_TABLE")
            if not table:
                continue
            for tenant in (config.get("tenants") or {}):
                try:
                    created = create_key(self.client("dynamodb"), table, tenant=str(tenant), models=["*"],
                                         tools=["*"], name="created by python -m lambda_manifest.local")
                except Exception as exc:
                    self.warnings.append(f"{host.spec.label}: no local virtual key for {tenant}: {exc}")
                    continue
                self.gateway_keys[f"{host.spec.stack}/{tenant}"] = created.api_key
        # MCP tool gateways take the same virtual keys (the local keys above reach every tool).
        for host in self.hosts:
            if host.spec.handler.startswith("lambda_manifest.runtime.mcp.") and \
                    host.spec.environment.get("LM_MCP_KEYS_TABLE"):
                self._gateway_hosts.add(host.spec.label)
        if not self.gateway_keys:
            return
        for host in self.hosts:
            secret_arn = host.spec.environment.get("GATEWAY_KEY_SECRET_ARN")
            if not secret_arn or secret_arn not in self.provisioned.placeholders:
                continue
            keys = {k.split("/", 1)[1]: v for k, v in self.gateway_keys.items() if k.startswith(host.spec.stack + "/")}
            if not keys:
                continue
            hint = (host.spec.environment.get("POWERTOOLS_SERVICE_NAME", "") + host.spec.label).lower()
            tenant = next((t for t in keys if t.lower() in hint), next(iter(keys)))
            self.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=keys[tenant])
            self.provisioned.secrets[secret_arn] = keys[tenant]

    def _local_model(self) -> LocalModel:
        if self.local_model is None:
            self.local_model = LocalModel(self.options.llm_reply, self.options.llm_piece_delay)
            self.local_model.start()
        return self.local_model

    def _async_configs(self) -> dict[str, AsyncConfig]:
        assert self.resolver is not None
        configs: dict[str, AsyncConfig] = {}
        for stack in self.stacks:
            for logical, resource in self.resolver.resources(stack, "AWS::Lambda::Function"):
                target = ((resource.get("Properties") or {}).get("DeadLetterConfig") or {}).get("TargetArn")
                if target:
                    arn = self.resolver.get_att(stack, logical, "Arn")
                    configs.setdefault(arn, AsyncConfig()).dead_letter = self.resolver.resolve_str(stack, target)
            for _logical, resource in self.resolver.resources(stack, "AWS::Lambda::EventInvokeConfig"):
                p = self.resolver.resolve(stack, resource.get("Properties", {}))
                host = self.registry.lookup(str(p.get("FunctionName", "")))
                if host is None:
                    continue
                config = configs.setdefault(host.spec.arn, AsyncConfig())
                config.retries = int(p.get("MaximumRetryAttempts", 2))
                destinations = p.get("DestinationConfig") or {}
                config.on_success = (destinations.get("OnSuccess") or {}).get("Destination")
                config.on_failure = (destinations.get("OnFailure") or {}).get("Destination")
        return configs

    def _event_sources(self) -> None:
        assert self.resolver is not None and self.dispatcher is not None
        for stack in self.stacks:
            for logical, resource in self.resolver.resources(stack, "AWS::Lambda::EventSourceMapping"):
                p = self.resolver.resolve(stack, resource.get("Properties", {}))
                source = str(p.get("EventSourceArn", ""))
                host = self.registry.lookup(str(p.get("FunctionName", "")))
                if ":sqs:" not in source:
                    self.warnings.append(f"{stack.name}/{logical}: event source {source or '?'} is not emulated (SQS only)")
                    continue
                if host is None:
                    self.warnings.append(f"{stack.name}/{logical}: no local function {p.get('FunctionName')}")
                    continue
                filters = []
                for item in (p.get("FilterCriteria") or {}).get("Filters", []):
                    pattern = item.get("Pattern")
                    filters.append(json.loads(pattern) if isinstance(pattern, str) else pattern)
                mapping = SqsMapping(
                    label=host.spec.label, queue_arn=source, host=host, batch_size=int(p.get("BatchSize", 10)),
                    window=float(p.get("MaximumBatchingWindowInSeconds", 0)),
                    report_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
                    filters=filters, enabled=str(p.get("Enabled", True)).lower() != "false",
                )
                if mapping.enabled:
                    self.pollers.append(SqsPoller(mapping, self.client, self.console))
            for logical, resource in self.resolver.resources(stack, "AWS::Events::Rule"):
                p = self.resolver.resolve(stack, resource.get("Properties", {}))
                if "ScheduleExpression" not in p:
                    continue
                physical = self.resolver.physical(stack, logical)
                self.schedules.append(Schedule(stack.name, logical, stack.label(logical), physical.ref,
                                               physical.attributes["Arn"], str(p["ScheduleExpression"]),
                                               list(p.get("Targets", [])), str(p.get("State", "ENABLED")) == "ENABLED"))
        for shim in self.provisioned.shims:
            relay = self.dispatcher.sns_shim(shim) if shim["kind"] == "sns" else self.dispatcher.rule_shim(shim)
            mapping = SqsMapping(label=f"relay {shim['source']}", queue_arn="", host=None, convert=relay,
                                 queue_url=str(shim["queue_url"]))
            self.pollers.append(SqsPoller(mapping, self.client, self.console))
        for poller in self.pollers:
            poller.start()

    def _credentials(self) -> None:
        """A working credential per authorizer, and a local API key per REST API, for the curl lines."""
        for entry in self.apis:
            api = entry.api
            if isinstance(api, HttpApi):
                for authorizer in api.authorizers.values():
                    scopes = sorted({s for r in api.routes if r.authorizer is authorizer for s in r.scopes})
                    if authorizer.kind == "JWT":
                        self.credentials[f"{api.stack.name}/{authorizer.logical_id}"] = jwt_authorizer_token(
                            authorizer.issuer, authorizer.audiences, scopes)
                    elif authorizer.function is not None:
                        self._lambda_credential(f"{api.stack.name}/{authorizer.logical_id}", authorizer.function, scopes)
            else:
                for rest_authorizer in api.authorizers.values():
                    scopes = sorted({s for m in api.methods if m.authorizer is rest_authorizer for s in m.scopes})
                    key = f"{api.stack.name}/{rest_authorizer.logical_id}"
                    if rest_authorizer.kind == "COGNITO_USER_POOLS":
                        self.credentials[key] = jwt_authorizer_token("", [], scopes, cognito=True)
                    elif rest_authorizer.function is not None:
                        self._lambda_credential(key, rest_authorizer.function, scopes)
                enabled = [k for k in api.keys.values() if k.enabled]
                if enabled:
                    self.api_keys[f"{api.stack.name}/{api.logical_id}"] = enabled[0].value

        for key, api_key in self.gateway_keys.items():
            stack, _, tenant = key.partition("/")
            self.credentials[f"{stack}/gateway-{tenant}"] = Credential(
                "Authorization", f"Bearer {api_key}", f"AI gateway virtual key of tenant {tenant} (local table)")

    def _gateway_credential(self, stack: str) -> tuple[str, Credential] | None:
        for key, credential in self.credentials.items():
            if key.startswith(f"{stack}/gateway-"):
                return key.split("/", 1)[1], credential
        return None

    def _lambda_credential(self, key: str, host: FunctionHost, scopes: list[str]) -> None:
        env = host.spec.environment
        credential = lm_authorizer_token(env, self.provisioned.secrets, scopes)
        if credential is None and env.get(auth_contract.ENV_API_KEY_TABLE):
            try:
                self.client("dynamodb").put_item(TableName=env[auth_contract.ENV_API_KEY_TABLE], Item=lm_api_key_item(scopes))
                credential = Credential("x-api-key", LOCAL_API_KEY, "lambda_manifest.runtime.authorizer: a local API key stored in its table")
            except Exception as exc:
                self.warnings.append(f"{host.spec.label}: could not store a local API key: {exc}")
        elif credential is not None and env.get(auth_contract.ENV_API_KEY_TABLE):
            try:
                self.client("dynamodb").put_item(TableName=env[auth_contract.ENV_API_KEY_TABLE], Item=lm_api_key_item(scopes))
            except Exception as exc:
                self.warnings.append(f"{host.spec.label}: could not store a local API key: {exc}")
        if credential is not None:
            self.credentials[key] = credential

    # -- firing and the admin endpoint ------------------------------------------------------------------
    def find_schedule(self, name: str) -> Schedule:
        matches = [s for s in self.schedules if name in s.names()]
        if len(matches) != 1:
            known = ", ".join(f"{s.stack}/{s.label}" for s in self.schedules) or "none"
            problem = "is ambiguous" if matches else "matches no schedule"
            raise KeyError(f"{name!r} {problem}; schedules: {known}")
        return matches[0]

    def fire(self, name: str, *, wait: float = 600.0) -> list[dict[str, Any]]:
        """Fire a schedule's targets now; wait for Lambda targets (with their retries) to finish."""
        assert self.dispatcher is not None
        schedule = self.find_schedule(name)
        outcomes: list[dict[str, Any]] = []
        for target, future in self.dispatcher.fire(schedule):
            if future is None:
                outcomes.append({"target": target, "ok": True, "delivered": True})
                continue
            outcome = self._outcome(future, wait)
            item: dict[str, Any] = {"target": target, "ok": outcome.invocation.ok if outcome else False,
                                    "attempts": outcome.attempts if outcome else 0}
            if outcome:
                item["result"] = outcome.invocation.payload if outcome.invocation.ok else outcome.invocation.error
                if outcome.delivered_to:
                    item["destination"] = outcome.delivered_to
            outcomes.append(item)
            status = "OK" if item["ok"] else "FAILED"
            self.console.line("local", f"{schedule.label} -> {target}: {status} after {item['attempts']} attempt(s): "
                                       f"{json.dumps(item.get('result'), default=str)[:300]}")
        return outcomes

    @staticmethod
    def _outcome(future: Future[AsyncOutcome], wait: float) -> AsyncOutcome | None:
        try:
            return future.result(timeout=wait)
        except Exception:
            return None

    def _admin(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if request.method == "GET" and path in ("", "/_local", "/_local/status"):
            return Response(200, [("content-type", "application/json")], json.dumps(self.ready_info()).encode())
        if request.method == "POST" and path.startswith("/_local/fire/"):
            try:
                outcomes = self.fire(unquote(path[len("/_local/fire/"):]))
            except KeyError as exc:
                return Response.message(404, str(exc.args[0]))
            return Response(200, [("content-type", "application/json")], json.dumps(outcomes, default=str).encode())
        if request.method == "POST" and path.startswith("/2015-03-31/functions/") and path.endswith("/invocations"):
            return self._lambda_invoke(request, path[len("/2015-03-31/functions/"):-len("/invocations")])
        return Response.message(404, "Not Found")

    def _lambda_invoke(self, request: Request, name: str) -> Response:
        """Lambda's Invoke API, so a handler's ``lambda_client.invoke(...)`` reaches the local function."""
        qualifier = dict(p.split("=", 1) for p in request.raw_query.split("&") if "=" in p).get("Qualifier")
        host = self.registry.lookup(name)
        if host is None:
            body = json.dumps({"Type": "User", "message": f"Function not found: {name}"}).encode()
            return Response(404, [("content-type", "application/json"),
                                  ("x-amzn-ErrorType", "ResourceNotFoundException")], body)
        try:
            event = json.loads(request.body or b"null")
        except json.JSONDecodeError:
            return Response(400, [("x-amzn-ErrorType", "InvalidRequestContentException")],
                            b'{"Type":"User","message":"Could not parse request body into json"}')
        kind = request.header("x-amz-invocation-type") or "RequestResponse"
        if kind == "DryRun":
            return Response(204)
        if kind == "Event":
            assert self.invoker is not None
            self.invoker.invoke(host, event)
            return Response(202, [("x-amzn-RequestId", "local")])
        result = host.invoke(event, qualifier_arn=f"{host.spec.arn}:{qualifier}" if qualifier else None)
        headers = [("content-type", "application/json"), ("x-amz-executed-version", "$LATEST"),
                   ("x-amzn-RequestId", result.request_id)]
        if not result.ok:
            headers.append(("x-amz-function-error", "Unhandled"))
            return Response(200, headers, json.dumps(result.error).encode())
        return Response(200, headers, json.dumps(result.payload).encode())

    # -- reporting --------------------------------------------------------------------------------------
    def child_pids(self) -> list[int]:
        pids = [pid for host in self.hosts for pid in host.pids()]
        if self.moto.process is not None:
            pids.append(self.moto.process.pid)
        return pids

    def _credential_for(self, stack: str, authorizer_logical: str | None) -> Credential | None:
        return self.credentials.get(f"{stack}/{authorizer_logical}") if authorizer_logical else None

    def routes(self) -> list[dict[str, Any]]:
        """One entry per route with a ready-to-paste curl line."""
        return listing.routes(self)

    def ready_info(self) -> dict[str, Any]:
        """What the runner serves, as JSON (``--ready-file`` and ``GET /_local/ready``)."""
        return listing.ready_info(self)

    def table(self) -> str:
        """The start-up table."""
        return listing.table(self)

    # -- stop -------------------------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        servers = [entry.server for entry in self.apis] + ([self.admin] if self.admin is not None else [])
        closing = [threading.Thread(target=server.stop) for server in servers]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()
        for poller in self.pollers:
            poller.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self.invoker is not None:
            self.invoker._stop.set()
        for host in self.hosts:
            host.stop()
        if self.invoker is not None:
            self.invoker.stop()
        for poller in self.pollers:
            poller.join()
        if self.local_model is not None:
            self.local_model.stop()
        self.moto.stop()
        self._tmp.cleanup()
        if self.options.ready_file and self.options.ready_file.exists():
            with contextlib.suppress(OSError):
                self.options.ready_file.unlink()
