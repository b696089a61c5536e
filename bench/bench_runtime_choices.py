"""Powertools' own pieces against the runtimes' own, measured as Lambda runs them: which one a handler should use.

Two choices, each in fresh Python 3.14 interpreters laid out like a function (the runtime code with the bytecode
synth ships, Powertools and fastjsonschema as the Powertools layer has them, boto3 as the managed runtime has it;
``-S -B``, nothing written), the variants interleaved round-robin:

* **Request validation** of the items API's create body (``lambda_src/items_api/service.py``): the HTTP
  toolkit's ``Schema`` against Powertools' ``validate()`` (fastjsonschema, compiling the schema on every call, as
  the utility does) and against ``fastjsonschema.compile`` once. *cold* is the import plus the first validation
  (schema checked or compiled) in a process that already holds the toolkit and Powertools' Logger, as an API
  handler does, so what the first request pays; for ``Schema`` it adds the import of its own module
  (``-X importtime``), which the toolkit would no longer carry if Powertools validated instead. *per call* is the median of 2,000 validations of a
  valid body in the same process, and *invalid* the same for a body with four errors.
* **A secret with a TTL cache** (the authorizer's HS256 key, the moderation handler's gateway key): the runtimes'
  ``aws.TtlCache`` over ``aws.get_secret`` against Powertools' ``parameters.get_secret(max_age=300)``, against
  a moto server on loopback. *import* is the module import (what the handler pays at init if it imports the
  module at the top), *first value* the import plus the first value in hand (boto3 import, client, one call),
  *cached* the median of 2,000 reads from the cache.

Run: ``.venv/bin/python bench/bench_runtime_choices.py [--runs 15]`` (3.14 is ``$LM_PYTHON3_14`` or
``.venv-3.14/bin/python``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from lambda_like import ROOT, Interpreter, _clean_env

from lambda_manifest import _bytecode

sys.path.insert(0, str(ROOT / "lambda_src"))

VALIDATION = r"""
import json, sys, time
variant, schema = sys.argv[1], json.loads(sys.argv[2])
valid = {"name": "lamp", "description": "bright", "price": 19.99, "tags": ["home", "light"]}
invalid = {"name": "", "price": -1, "tags": [1], "extra": True}
# What an API handler has loaded before its schemas: the toolkit (with Powertools' Logger). The toolkit's own
# validation module is imported with it; its import time is read from -X importtime and added to "cold".
import lambda_manifest.runtime.http
started = time.perf_counter()
if variant == "toolkit Schema":
    from lambda_manifest.runtime.http.validation import Schema
    compiled = Schema(schema)
    def check(body):
        return compiled.errors(body)
elif variant == "Powertools validate()":
    from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate
    def check(body):
        try:
            validate(event=body, schema=schema)
        except SchemaValidationError as error:
            return [error.message]
        return []
else:
    import fastjsonschema
    compiled = fastjsonschema.compile(schema)
    def check(body):
        try:
            compiled(body)
        except fastjsonschema.JsonSchemaValueException as error:
            return [error.message]
        return []
assert check(valid) == []
cold = time.perf_counter() - started
assert check(invalid)
def per_call(body):
    times = []
    for _ in range(2000):
        t = time.perf_counter()
        check(body)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]
print(json.dumps({"cold": cold * 1e3, "valid": per_call(valid) * 1e6, "invalid": per_call(invalid) * 1e6,
                  "issues": len(check(invalid))}))
"""

SECRET = r"""
import json, sys, time
variant, arn = sys.argv[1], sys.argv[2]
from aws_lambda_powertools import Logger  # both handlers that read a secret (authorizer, moderation) log with it
started = time.perf_counter()
if variant == "runtime TtlCache":
    from lambda_manifest.runtime import aws
    cache = aws.TtlCache(aws.get_secret, ttl_seconds=300)
    def read():
        return cache.get(arn)
else:
    from aws_lambda_powertools.utilities import parameters
    def read():
        return parameters.get_secret(arn, max_age=300)
imported = time.perf_counter() - started
assert read() == "x" * 48
first = time.perf_counter() - started
times = []
for _ in range(2000):
    t = time.perf_counter()
    read()
    times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({"import": imported * 1e3, "first": first * 1e3, "cached": times[len(times) // 2] * 1e6}))
"""


def task_folder(work: Path, python: str) -> Path:
    """The runtime code as a function's asset or layer holds it, with the bytecode synth ships."""
    task = work / "task"
    package = ROOT / "lambda_manifest"
    for relative in ("__init__.py", "runtime/__init__.py", "runtime/aws.py", "runtime/http", "runtime/authorizer"):
        source, target = package / relative, task / "lambda_manifest" / relative
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _bytecode.compile_tree(task, python=python)
    return task


def run(interpreter: Interpreter, paths: list[str], program: str, args: list[str], env: dict[str, str],
        *, module_cost: str | None = None) -> dict[str, Any]:
    """One fresh interpreter; with ``module_cost``, that module's own import time (-X importtime, ms, with
    what it imports that nothing before it had) is added to the sample's ``cold``."""
    flags = ["-X", "importtime"] if module_cost else []
    result = subprocess.run([interpreter.executable, "-S", "-B", *flags, "-c", program, *args], capture_output=True,
                            text=True, env=_clean_env({**env, "PYTHONPATH": os.pathsep.join(paths)}), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{result.stderr[-3000:]}")
    sample = dict(json.loads(result.stdout.strip().splitlines()[-1]))
    if module_cost:
        line = next(line for line in result.stderr.splitlines() if line.split("|")[-1].strip() == module_cost)
        sample["cold"] += int(line.split("|")[1]) / 1000  # cumulative microseconds
    return sample


def spread(values: list[float], digits: int = 1) -> str:
    return f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} / {max(values):.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py314 = os.environ.get("LM_PYTHON3_14") or str(ROOT / ".venv-3.14" / "bin" / "python")
    if not Path(py314).exists():
        print("no Python 3.14 (set LM_PYTHON3_14 or run make install)", file=sys.stderr)
        return 1
    from items_api.service import CREATE_SCHEMA
    from moto.server import ThreadedMotoServer

    with tempfile.TemporaryDirectory(prefix="bench-choices-") as tmp:
        work = Path(tmp)
        interpreter = Interpreter(py314, work)
        site = Path(subprocess.run([py314, "-c", "import fastjsonschema, os; print(os.path.dirname(fastjsonschema.__file__))"],
                                   capture_output=True, text=True, check=True).stdout.strip())
        shutil.copytree(site, interpreter.powertools / "fastjsonschema", ignore=shutil.ignore_patterns("__pycache__"))
        _bytecode.compile_tree(interpreter.powertools / "fastjsonschema", python=interpreter.executable)
        paths = [str(task_folder(work, interpreter.executable)), str(interpreter.powertools), str(interpreter.runtime)]

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            endpoint = f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
            aws_env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
            import boto3

            arn = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=endpoint,
                               aws_access_key_id="bench", aws_secret_access_key="bench").create_secret(
                Name="bench/hs256", SecretString="x" * 48)["ARN"]
            validation = ["toolkit Schema", "Powertools validate()", "fastjsonschema.compile once"]
            secrets = ["runtime TtlCache", "Powertools parameters"]
            samples: dict[str, list[dict[str, Any]]] = {v: [] for v in validation + secrets}
            schema = json.dumps(dict(CREATE_SCHEMA.definition))
            for index in range(args.runs):
                for variant in (validation if index % 2 == 0 else validation[::-1]):
                    own = "lambda_manifest.runtime.http.validation" if variant == validation[0] else None
                    samples[variant].append(run(interpreter, paths, VALIDATION, [variant, schema], {},
                                                module_cost=own))
                for variant in (secrets if index % 2 == 0 else secrets[::-1]):
                    samples[variant].append(run(interpreter, paths, SECRET, [variant, arn], aws_env))
        finally:
            server.stop()

    print(f"Python {interpreter.version}, {args.runs} fresh interpreters per variant, interleaved; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; min / median / max\n")
    print("| validation of the items create body | cold: import + first call (ms) | per call, valid (µs) | "
          "per call, invalid (µs) | issues reported for a body with 4 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for variant in validation:
        s = samples[variant]
        print(f"| {variant} | {spread([x['cold'] for x in s])} | {spread([x['valid'] for x in s])} | "
              f"{spread([x['invalid'] for x in s])} | {s[-1]['issues']} |")
    print("\n| secret with a 300 s cache | import (ms) | import + first value (ms) | cached read (µs) |")
    print("| --- | ---: | ---: | ---: |")
    for variant in secrets:
        s = samples[variant]
        print(f"| {variant} | {spread([x['import'] for x in s])} | {spread([x['first'] for x in s])} | "
              f"{spread([x['cached'] for x in s], 2)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
