"""The worker process that runs one Lambda function's handler (one "execution environment").

Started by :mod:`lambda_manifest.local.functions` as ``python -I -B -u _bootstrap.py REQ_FD RESP_FD`` with
the function's environment, its code folder as the working directory and ``_HANDLER`` set. It imports the
handler once (the init phase of a cold start), then serves invocations one at a time: one message in on
``REQ_FD`` (marshal format 4 after its length in 4 little-endian bytes, see ``functions.MARSHAL_VERSION``),
one JSON line out on ``RESP_FD``. stdout and stderr are the function's log; the parent prefixes
them with the function's name. It exits when the request pipe closes, so it never outlives the runner.
``LM_LOCAL_LAYER_PATHS`` (``os.pathsep``-separated) lists the function's layer folders, which go on
``sys.path`` right after the code folder; without ``LM_LOCAL_VERBOSE=1`` the SDK's loggers show warnings only.

Standard library only: it must import fast and must not put the runner's packages in front of the
function's code.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import marshal
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    # Read once, when the environment starts (as the managed runtime does), not once per invocation.
    _environment: tuple[str, str, str, str, str] | None = None

    def __init__(self, request: dict[str, Any]) -> None:
        if LambdaContext._environment is None:
            get = os.environ.get
            LambdaContext._environment = (
                get("AWS_LAMBDA_FUNCTION_NAME", ""), get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"), get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
                get("AWS_LAMBDA_LOG_STREAM_NAME", ""))
        (self.function_name, self.function_version, self.memory_limit_in_mb, self.log_group_name,
         self.log_stream_name) = LambdaContext._environment
        self.invoked_function_arn = str(request.get("invoked_function_arn", ""))
        self.aws_request_id = str(request.get("request_id", ""))
        self.identity = None
        self.client_context = request.get("client_context")
        self.tenant_id = None
        self._deadline_ms = int(request.get("deadline_ms", 0))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _JsonFormatter(logging.Formatter):
    """The Lambda runtime's JSON log format (``LoggingConfig.LogFormat: JSON``)."""

    request_id = ""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": self.request_id,
        }
        if record.exc_info:
            line["errorType"] = record.exc_info[0].__name__ if record.exc_info[0] else "Exception"
            line["stackTrace"] = traceback.format_exception(*record.exc_info)
        return json.dumps(line, default=str)


class _TextFormatter(logging.Formatter):
    request_id = ""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        text = f"[{record.levelname}]\t{stamp}\t{self.request_id}\t{record.getMessage()}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        return text


# The SDK's loggers: at the root logger's INFO they print a line per client ("Found credentials in
# environment variables.") in every worker. Quiet unless the runner runs with --verbose.
SDK_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3")


def _configure_logging(verbose: bool = False) -> _JsonFormatter | _TextFormatter:
    """What the managed runtime does before init: one handler on the root logger at the configured level."""
    formatter: _JsonFormatter | _TextFormatter = (
        _JsonFormatter() if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text").upper() == "JSON" else _TextFormatter()
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper()
    root.setLevel({"TRACE": "DEBUG", "FATAL": "CRITICAL", "WARN": "WARNING"}.get(level, level))
    if not verbose:
        # Only these loggers: the handler's own (and Powertools') log lines keep the configured level, and a
        # handler that sets one of these levels itself still wins, since it runs later.
        for name in SDK_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    return formatter


def _sys_path(task_root: str, layer_paths: str, here: str) -> list[str]:
    """Lambda's order: the code folder, then the layers (/opt/python), then the runtime's own packages
    (here the venv's site-packages, which also stand in for layers given by ARN)."""
    layers = [p for p in layer_paths.split(os.pathsep) if p]
    rest = [p for p in sys.path if p and os.path.abspath(p) != here and p not in layers and p != task_root]
    return [task_root, *layers, *rest]


# Packages that layers given by ARN provide in AWS, and the runner's ``local`` extra installs in the venv.
LOCAL_EXTRA_MODULES = ("aws_lambda_powertools",)


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _load_handler(spec: str) -> Any:
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    module = importlib.import_module(module_name.replace("/", "."))
    handler = getattr(module, function_name, None)
    if handler is None:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def _decimal(value: Any) -> Any:
    # The Python runtime's marshaller serializes Decimal (DynamoDB numbers) and nothing else extra.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _write(fd: int, message: dict[str, Any] | bytes) -> None:
    data = message if isinstance(message, bytes) else (json.dumps(message, separators=(",", ":")) + "\n").encode()
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def main() -> int:
    request_fd, response_fd = int(sys.argv[1]), int(sys.argv[2])
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    # Runner-only variables: a handler in Lambda never sees them.
    layer_paths = os.environ.pop("LM_LOCAL_LAYER_PATHS", "")
    verbose = os.environ.pop("LM_LOCAL_VERBOSE", "") == "1"
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = _sys_path(task_root, layer_paths, here)
    formatter = _configure_logging(verbose)

    started = time.perf_counter()
    handler: Any = None
    init_error: dict[str, Any] | None = None
    hint = ""
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except ImportError as exc:
        init_error = _error(exc, "Runtime.ImportModuleError")
        if exc.name and exc.name.split(".")[0] in LOCAL_EXTRA_MODULES:
            hint = (f"{exc.name} comes from a layer in AWS and from the venv here: "
                    'pip install "lambda-manifest[local]"')
    except AttributeError as exc:
        init_error = _error(exc, "Runtime.HandlerNotFound")
    except Exception as exc:
        init_error = _error(exc)
    if init_error:
        print(f"[ERROR] {init_error['errorType']}: {init_error['errorMessage']}", flush=True)
        if hint:
            print(f"[ERROR] {hint}", flush=True)
    _write(response_fd, {"ready": True, "init_ms": round((time.perf_counter() - started) * 1000, 1),
                         "init_error": init_error})

    serialize = json.JSONEncoder(default=_decimal).encode  # json.dumps(result, default=...) builds one per call
    with os.fdopen(request_fd, "rb", buffering=0) as requests:
        buffer = b""
        while True:
            chunk = requests.read(65536)
            if not chunk:
                return 0
            buffer += chunk
            while len(buffer) >= 4 and len(buffer) >= 4 + (size := int.from_bytes(buffer[:4], "little")):
                request = marshal.loads(buffer[4:4 + size])
                buffer = buffer[4 + size:]
                if init_error:
                    # Lambda resets an environment whose init failed; the runner starts a fresh one next time.
                    _write(response_fd, {"id": request["id"], "ok": False, "error": init_error})
                    return 1
                formatter.request_id = str(request.get("request_id", ""))
                os.environ["_X_AMZN_TRACE_ID"] = str(request.get("trace_id", ""))
                context = LambdaContext(request)
                try:
                    result = handler(request["event"], context)
                    payload = serialize(result)
                except Exception as exc:
                    error = _error(exc)
                    if isinstance(exc, TypeError) and "is not JSON serializable" in str(exc):
                        error["errorType"] = "Runtime.MarshalError"
                        error["errorMessage"] = f"Unable to marshal response: {exc}"
                    print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stdout)
                    print("".join(traceback.format_exception(exc)).rstrip(), file=sys.stdout, flush=True)
                    _write(response_fd, {"id": request["id"], "ok": False, "error": error})
                    continue
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                # The answer is already JSON: it goes into the message as it is, decoded once by the runner.
                _write(response_fd, b'{"id":%d,"ok":true,"result":%s}\n' % (request["id"], payload.encode()))


if __name__ == "__main__":
    raise SystemExit(main())
