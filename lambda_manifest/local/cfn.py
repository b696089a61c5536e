"""CloudFormation templates as the local runner sees them: intrinsic functions resolved to local values.

Every resource gets a *physical* value (what ``Ref`` returns) and attributes (what ``Fn::GetAtt`` returns).
Resources the runner creates in moto get the names moto reports; everything else gets a deterministic,
plausible stand-in (``arn:aws:iam::123456789012:role/<stack>-<logical id>``) so handler environments that
mention a role or a log group still resolve.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lambda_manifest.assembly import StackArtifact

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


class _NoValue:
    """``AWS::NoValue``: removes the property or list element it stands in."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class ResolveError(ValueError):
    """A template value the runner cannot resolve locally."""


@dataclass
class Physical:
    """What ``Ref`` and ``Fn::GetAtt`` return for one resource."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


def short_id(*parts: str, length: int = 10) -> str:
    """A deterministic lowercase id, the shape API Gateway and friends use for ids."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    number = int(digest, 16)
    out = []
    for _ in range(length):
        number, index = divmod(number, len(alphabet))
        out.append(alphabet[index])
    return "".join(out)


def arn(service: str, resource: str, *, region: str = REGION, account: str = ACCOUNT_ID) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def _bucket_name(stack: str, logical: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", f"{stack}-{logical}".lower()).strip("-")
    return name[:63].rstrip("-") or "local-bucket"


class Stack:
    """One stack of the assembly with its resolved parameters and physical values."""

    def __init__(self, artifact: StackArtifact) -> None:
        self.artifact = artifact
        self.name = artifact.stack_name
        self.template: dict[str, Any] = artifact.template
        self.physical: dict[str, Physical] = {}
        self.parameters: dict[str, Any] = {
            name: spec.get("Default", "") for name, spec in self.template.get("Parameters", {}).items()
        }
        self._conditions: dict[str, bool] = {}
        self._paths: dict[str, str] = {}
        for path, entries in artifact.metadata.items():
            for entry in entries:
                if entry.get("type") == "aws:cdk:logicalId" and isinstance(entry.get("data"), str):
                    self._paths[entry["data"]] = path.lstrip("/")

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template.get("Resources", {})
        return resources

    def path_of(self, logical_id: str) -> str:
        """The construct path (``Stack/Api/Resource``) CDK records in the resource's metadata, if any."""
        metadata = self.resources.get(logical_id, {}).get("Metadata", {})
        path = metadata.get("aws:cdk:path") if isinstance(metadata, dict) else None
        path = path or self._paths.get(logical_id)
        return str(path) if path else f"{self.name}/{logical_id}"

    def label(self, logical_id: str) -> str:
        """A short human name: the construct path without the stack and a trailing ``/Resource``."""
        path = self.path_of(logical_id)
        parts = path.split("/")
        if parts and parts[0] == self.artifact.name:
            parts = parts[1:]
        if len(parts) > 1 and parts[-1] in ("Resource", "Default"):
            parts = parts[:-1]
        return "/".join(parts) or logical_id


class Resolver:
    """Resolves ``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub`` and the other intrinsics to local values."""

    def __init__(self, stacks: list[Stack]) -> None:
        self.stacks: dict[str, Stack] = {stack.name: stack for stack in stacks}
        self._active: set[tuple[str, str]] = set()
        self._exports: dict[str, tuple[Stack, Any]] = {}
        for stack in stacks:
            for output in stack.template.get("Outputs", {}).values():
                export = output.get("Export")
                if isinstance(export, dict) and "Name" in export:
                    try:
                        name = self.resolve(stack, export["Name"])
                    except ResolveError:
                        continue
                    self._exports[str(name)] = (stack, output.get("Value"))

    # -- conditions -------------------------------------------------------------------------------------
    def condition(self, stack: Stack, name: str) -> bool:
        if name not in stack._conditions:
            spec = stack.template.get("Conditions", {}).get(name)
            if spec is None:
                raise ResolveError(f"{stack.name}: unknown condition {name!r}")
            stack._conditions[name] = bool(self._evaluate_condition(stack, spec))
        return stack._conditions[name]

    def _evaluate_condition(self, stack: Stack, spec: Any) -> bool:
        if isinstance(spec, dict) and len(spec) == 1:
            (fn, arg), = spec.items()
            if fn == "Condition":
                return self.condition(stack, str(arg))
            if fn == "Fn::Equals":
                left, right = (self.resolve(stack, v) for v in arg)
                return str(left) == str(right)
            if fn == "Fn::Not":
                return not self._evaluate_condition(stack, arg[0])
            if fn == "Fn::And":
                return all(self._evaluate_condition(stack, v) for v in arg)
            if fn == "Fn::Or":
                return any(self._evaluate_condition(stack, v) for v in arg)
        value = self.resolve(stack, spec)
        return str(value).lower() == "true"

    def included(self, stack: Stack, logical_id: str) -> bool:
        """False when the resource carries a ``Condition`` that evaluates to false."""
        name = stack.resources.get(logical_id, {}).get("Condition")
        return True if name is None else self.condition(stack, str(name))

    def resources(self, stack: Stack, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in stack.resources.items():
            if (not types or resource.get("Type") in types) and self.included(stack, logical_id):
                yield logical_id, resource

    # -- values -----------------------------------------------------------------------------------------
    def resolve(self, stack: Stack, value: Any) -> Any:
        """Resolve every intrinsic function in ``value``; ``AWS::NoValue`` entries are dropped."""
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), = value.items()
                if key == "Ref":
                    return self.ref(stack, str(arg))
                if key == "Condition":
                    return self.condition(stack, str(arg))
                if key.startswith("Fn::"):
                    return self._function(stack, key, arg)
            resolved = {k: self.resolve(stack, v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(stack, v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        return value

    def resolve_str(self, stack: Stack, value: Any) -> str:
        resolved = self.resolve(stack, value)
        if isinstance(resolved, (dict, list)):
            return json.dumps(resolved)
        return "" if resolved is None or resolved is NO_VALUE else str(resolved)

    def _function(self, stack: Stack, name: str, arg: Any) -> Any:
        if name == "Fn::GetAtt":
            if isinstance(arg, str):
                logical, _, attribute = arg.partition(".")
            else:
                logical, attribute = str(arg[0]), str(self.resolve(stack, arg[1]))
            return self.get_att(stack, logical, attribute)
        if name == "Fn::Join":
            delimiter, parts = arg
            values = self.resolve(stack, parts)
            return str(delimiter).join(self._scalar(v) for v in values)
        if name == "Fn::Sub":
            return self._sub(stack, arg)
        if name == "Fn::Select":
            index, values = arg
            items = self.resolve(stack, values)
            return items[int(self.resolve(stack, index))]
        if name == "Fn::Split":
            delimiter, text = arg
            return self.resolve_str(stack, text).split(str(delimiter))
        if name == "Fn::If":
            condition, if_true, if_false = arg
            return self.resolve(stack, if_true if self.condition(stack, str(condition)) else if_false)
        if name == "Fn::Base64":
            import base64

            return base64.b64encode(self.resolve_str(stack, arg).encode()).decode()
        if name == "Fn::GetAZs":
            return [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
        if name == "Fn::FindInMap":
            mapping, first, second = (self.resolve(stack, v) for v in arg[:3])
            return stack.template["Mappings"][str(mapping)][str(first)][str(second)]
        if name == "Fn::ImportValue":
            export = self.resolve_str(stack, arg)
            if export not in self._exports:
                raise ResolveError(f"{stack.name}: no stack in the assembly exports {export!r}")
            source, value = self._exports[export]
            return self.resolve(source, value)
        if name == "Fn::ToJsonString":
            return json.dumps(self.resolve(stack, arg), separators=(",", ":"))
        if name == "Fn::Length":
            return len(self.resolve(stack, arg))
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._evaluate_condition(stack, {name: arg})
        raise ResolveError(f"{stack.name}: {name} is not supported by the local runner")

    @staticmethod
    def _scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    _SUB = re.compile(r"\$\{([^}]*)\}")

    def _sub(self, stack: Stack, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = str(arg[0]), {k: self.resolve(stack, v) for k, v in dict(arg[1]).items()}
        else:
            text, variables = str(arg), {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self._scalar(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, _, attribute = name.partition(".")
                return self.get_att(stack, logical, attribute)
            return self._scalar(self.ref(stack, name))

        return self._SUB.sub(replace, text)

    def ref(self, stack: Stack, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": stack.name,
            "AWS::StackId": arn("cloudformation", f"stack/{stack.name}/{short_id(stack.name, length=8)}"),
        }
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::NotificationARNs":
            return []
        if name in stack.parameters:
            return stack.parameters[name]
        return self.physical(stack, name).ref

    def get_att(self, stack: Stack, logical: str, attribute: str) -> str:
        physical = self.physical(stack, logical)
        if attribute in physical.attributes:
            return physical.attributes[attribute]
        resource_type = str(stack.resources[logical].get("Type", ""))
        if attribute == "Arn":
            service = resource_type.split("::")[1].lower() if resource_type.count("::") >= 2 else "local"
            kind = resource_type.split("::")[-1].lower()
            return arn(service, f"{kind}/{physical.ref}")
        return f"{physical.ref}.{attribute}"

    def physical(self, stack: Stack, logical: str) -> Physical:
        if logical not in stack.physical:
            if logical not in stack.resources:
                raise ResolveError(f"{stack.name}: Ref to unknown resource or parameter {logical!r}")
            key = (stack.name, logical)
            if key in self._active:
                raise ResolveError(f"{stack.name}: circular reference through {logical}")
            self._active.add(key)
            try:
                stack.physical[logical] = self._default_physical(stack, logical)
            finally:
                self._active.discard(key)
        return stack.physical[logical]

    def _prop(self, stack: Stack, props: dict[str, Any], name: str) -> str | None:
        if name not in props:
            return None
        value = self.resolve(stack, props[name])
        return None if value is NO_VALUE or value is None else str(value)

    def _default_physical(self, stack: Stack, logical: str) -> Physical:
        """Names CloudFormation would generate, made deterministic: ``<stack>-<logical id>``."""
        resource = stack.resources[logical]
        kind = str(resource.get("Type", ""))
        props: dict[str, Any] = resource.get("Properties", {}) or {}
        base = f"{stack.name}-{logical}"
        uid = short_id(stack.name, logical)

        if kind in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
            name = self._prop(stack, props, "TableName") or base
            table_arn = arn("dynamodb", f"table/{name}")
            return Physical(name, {"Arn": table_arn, "StreamArn": f"{table_arn}/stream/local"})
        if kind == "AWS::SQS::Queue":
            fifo = str(self.resolve(stack, props.get("FifoQueue", False))).lower() == "true"
            name = self._prop(stack, props, "QueueName") or (base[:75] + ".fifo" if fifo else base[:80])
            url = f"https://sqs.{REGION}.{URL_SUFFIX}/{ACCOUNT_ID}/{name}"
            return Physical(url, {"Arn": arn("sqs", name), "QueueName": name, "QueueUrl": url})
        if kind == "AWS::SNS::Topic":
            fifo = str(self.resolve(stack, props.get("FifoTopic", False))).lower() == "true"
            name = self._prop(stack, props, "TopicName") or (base + ".fifo" if fifo else base)
            topic_arn = arn("sns", name)
            return Physical(topic_arn, {"TopicArn": topic_arn, "TopicName": name})
        if kind == "AWS::S3::Bucket":
            name = self._prop(stack, props, "BucketName") or _bucket_name(stack.name, logical)
            return Physical(name, {
                "Arn": f"arn:{PARTITION}:s3:::{name}",
                "DomainName": f"{name}.s3.{URL_SUFFIX}",
                "RegionalDomainName": f"{name}.s3.{REGION}.{URL_SUFFIX}",
                "DualStackDomainName": f"{name}.s3.dualstack.{REGION}.{URL_SUFFIX}",
                "WebsiteURL": f"http://{name}.s3-website-{REGION}.{URL_SUFFIX}",
            })
        if kind == "AWS::SecretsManager::Secret":
            name = self._prop(stack, props, "Name") or f"{logical}-{uid[:6]}"
            return Physical(arn("secretsmanager", f"secret:{name}-{uid[:6]}"), {"Id": name})
        if kind == "AWS::KMS::Key":
            key_id = f"{uid[:8]}-{uid[8:10]}00-4000-8000-{short_id(uid, length=12)}"
            return Physical(key_id, {"Arn": arn("kms", f"key/{key_id}"), "KeyId": key_id})
        if kind == "AWS::Lambda::Function":
            name = self._prop(stack, props, "FunctionName") or base[:64]
            return Physical(name, {"Arn": arn("lambda", f"function:{name}")})
        if kind == "AWS::Lambda::Alias":
            function = self._prop(stack, props, "FunctionName") or ""
            function_arn = function if function.startswith("arn:") else arn("lambda", f"function:{function}")
            alias = self._prop(stack, props, "Name") or "live"
            return Physical(f"{function_arn}:{alias}", {"AliasArn": f"{function_arn}:{alias}"})
        if kind == "AWS::Lambda::Version":
            function = self._prop(stack, props, "FunctionName") or ""
            function_arn = function if function.startswith("arn:") else arn("lambda", f"function:{function}")
            return Physical(f"{function_arn}:1", {"Version": "1", "FunctionArn": function_arn})
        if kind == "AWS::IAM::Role":
            name = self._prop(stack, props, "RoleName") or base[:64]
            return Physical(name, {"Arn": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{name}", "RoleId": uid.upper()})
        if kind == "AWS::IAM::ManagedPolicy":
            name = self._prop(stack, props, "ManagedPolicyName") or base
            return Physical(f"arn:{PARTITION}:iam::{ACCOUNT_ID}:policy/{name}")
        if kind == "AWS::Logs::LogGroup":
            name = self._prop(stack, props, "LogGroupName") or f"/aws/local/{stack.name}/{logical}"
            return Physical(name, {"Arn": arn("logs", f"log-group:{name}:*")})
        if kind == "AWS::SSM::Parameter":
            name = self._prop(stack, props, "Name") or f"CFN-{logical}-{uid[:8]}"
            return Physical(name, {"Type": self._prop(stack, props, "Type") or "String",
                                   "Value": self._prop(stack, props, "Value") or ""})
        if kind == "AWS::Events::Rule":
            name = self._prop(stack, props, "Name") or base[:64]
            bus = self._prop(stack, props, "EventBusName")
            path = f"rule/{bus}/{name}" if bus and bus != "default" and not bus.startswith("arn:") else f"rule/{name}"
            return Physical(name, {"Arn": arn("events", path)})
        if kind == "AWS::Events::EventBus":
            name = self._prop(stack, props, "Name") or base
            return Physical(name, {"Arn": arn("events", f"event-bus/{name}"), "Name": name})
        if kind == "AWS::ApiGatewayV2::Api":
            return Physical(uid, {"ApiId": uid, "ApiEndpoint": f"https://{uid}.execute-api.{REGION}.{URL_SUFFIX}"})
        if kind == "AWS::ApiGateway::RestApi":
            return Physical(uid, {"RestApiId": uid, "RootResourceId": short_id(uid, "root")})
        if kind in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGateway::Stage"):
            return Physical(self._prop(stack, props, "StageName") or "$default")
        if kind == "AWS::ApiGateway::ApiKey":
            return Physical(uid, {"APIKeyId": uid})
        if kind.startswith(("AWS::ApiGateway", "AWS::ApiGatewayV2")):
            return Physical(uid, {"ResourceId": uid, "AuthorizerId": uid, "IntegrationId": uid,
                                  "RouteId": uid, "Id": uid})
        if kind == "AWS::SNS::Subscription":
            return Physical(arn("sns", f"{base}:{uid}"))
        return Physical(base)
