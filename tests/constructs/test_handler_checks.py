"""Handler strings checked against the code Lambda will receive: form, module, function, syntax."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from lambda_manifest import PropsError
from lambda_manifest._handlers import (
    LIBRARY_RUNTIME,
    HandlerProblem,
    RuntimeRoot,
    add_to,
    check_handler,
    code_directory,
)
from lambda_manifest._validation import Problems
from tests.support import new_stack

WORKER = """\
import json
from typing import Any


def process(record: Any) -> None:
    json.loads(record)


def helper() -> None:
    pass
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> lambda_.Code:
    """``Code.from_asset("src")`` relative to the current directory, as an app passes it."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "src", {
        "api/__init__.py": "",
        "api/handler.py": "def main(event, context):\n    return event\n",
        "jobs/__init__.py": "",
        "jobs/worker.py": WORKER,
        "jobs/models.py": "class Order:\n    pass\n",
    })
    return lambda_.Code.from_asset("src")


def module_file(code: lambda_.Code, name: str, text: str) -> None:
    folder = code_directory(code)
    assert folder is not None
    write(folder, {name: text})


# --------------------------------------------------------------------------------------------------
# Form
# --------------------------------------------------------------------------------------------------


def test_dotted_handler_naming_a_function_in_the_asset_passes(src: lambda_.Code) -> None:
    assert check_handler("api.handler.main", src) is None


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("api/handler.main", "use 'api.handler.main' (dots, no .py)"),
        ("api/handler.py.main", "use 'api.handler.main' (dots, no .py)"),
        ("api.handler.py.main", "use 'api.handler.main' (dots, no .py)"),
        ("api/handler.py", "use 'api.handler.<function>' (dots, no .py), naming the function to call"),
    ],
)
def test_file_paths_are_rejected_with_the_dotted_spelling(src: lambda_.Code, value: str, fix: str) -> None:
    problem = check_handler(value, src)

    assert problem is not None
    assert problem.value == value
    assert "file path" in problem.found
    assert problem.fix == fix


def test_slashes_alone_are_named_as_the_mistake(src: lambda_.Code) -> None:
    problem = check_handler("api/handler.main", src)

    assert problem is not None
    assert problem.found == "it is a file path (slashes), not a module path"


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("", "it is empty"),
        ("main", "it names no module"),
        ("api..main", "it has an empty name between separators"),
        ("api.handler. main", "it contains whitespace"),
        ("my-api.main", "'my-api' is not a Python identifier"),
        ("api.handler:main", "it has a ':', which is the process= form"),
    ],
)
def test_malformed_handlers_say_what_is_wrong(src: lambda_.Code, value: str, found: str) -> None:
    problem = check_handler(value, src)

    assert problem is not None
    assert problem.found == found
    assert problem.expected == "'module.function' with dots (e.g. 'app.handler.main')"


def test_a_colon_in_a_handler_gets_the_dotted_fix(src: lambda_.Code) -> None:
    problem = check_handler("api.handler:main", src)

    assert problem is not None
    assert problem.fix.endswith("use 'api.handler.main'")


# --------------------------------------------------------------------------------------------------
# Module and function in a folder asset
# --------------------------------------------------------------------------------------------------


def test_missing_module_lists_the_folder_and_suggests_the_close_name(src: lambda_.Code) -> None:
    problem = check_handler("jobs.wroker.process", src)

    assert problem == HandlerProblem(
        prop="handler",
        value="jobs.wroker.process",
        expected="a module in the function's code",
        found="src/jobs/ has no wroker.py (found: worker.py, models.py)",
        fix="did you mean 'jobs.worker.process'?",
    )


def test_missing_package_is_reported_at_the_folder_where_it_stops(src: lambda_.Code) -> None:
    problem = check_handler("job.worker.process", src)

    assert problem is not None
    assert problem.found == "src/ has no job/ (found: jobs/, api/)"
    assert problem.fix == "did you mean 'jobs.worker.process'?"


def test_missing_module_without_a_close_name_says_what_to_add(src: lambda_.Code) -> None:
    problem = check_handler("billing.main", src)

    assert problem is not None
    assert problem.found == "src/ has no billing.py (found: api/, jobs/)"
    assert problem.fix == "add src/billing.py, or name a module the code holds"


def test_module_names_match_case_exactly_as_on_lambdas_file_system(src: lambda_.Code) -> None:
    problem = check_handler("jobs.Worker.process", src)

    assert problem is not None
    assert problem.fix == "did you mean 'jobs.worker.process'?"


def test_missing_function_lists_what_the_module_defines(src: lambda_.Code) -> None:
    problem = check_handler("jobs.worker.proces", src)

    assert problem is not None
    assert problem.expected == "a function defined at the top level of its module"
    assert problem.found == (
        "src/jobs/worker.py defines no 'proces' at the top level (it defines: process, helper, Any)"
    )
    assert problem.fix == "did you mean 'jobs.worker.process'?"


def test_both_misspellings_are_repaired_in_one_suggestion(src: lambda_.Code) -> None:
    problem = check_handler("jobs.wroker.proces", src)

    assert problem is not None
    assert problem.fix == "did you mean 'jobs.worker.process'?"


def test_async_handler_is_rejected_with_a_sync_wrapper(src: lambda_.Code) -> None:
    module_file(src, "api/stream.py", """\
        import asyncio


        async def main(event, context):
            await asyncio.sleep(0)
        """)

    problem = check_handler("api.stream.main", src)

    assert problem is not None
    assert problem.expected == "a plain def function, not async def"
    assert problem.found == "src/api/stream.py:4 defines 'main' with async def"
    assert "def main_sync(event, context): return asyncio.run(main(event, context))" in problem.fix


def test_an_async_def_rebound_to_a_sync_wrapper_passes(src: lambda_.Code) -> None:
    module_file(src, "api/stream.py", """\
        import asyncio


        async def main(event, context):
            return event


        def _sync(fn):
            return lambda event, context: asyncio.run(fn(event, context))


        main = _sync(main)
        """)

    assert check_handler("api.stream.main", src) is None


@pytest.mark.parametrize(
    "source",
    [
        "from api.app import app\nmain = app.resolve\n",
        "from mangum import lambda_handler\napp = object()\nmain = lambda_handler(app)\n",
        "from typing import Callable\nmain: Callable[..., object] = print\n",
        "first, main = print, print\n",
        "from api.handler import main\n",
        "from api.handler import main as _impl\nfrom api.handler import main as main\n",
        "try:\n    from fast import main\nexcept ImportError:\n    def main(event, context):\n        pass\n",
        "import os\nif os.environ.get('X'):\n    def main(event, context): pass\nelse:\n    main = print\n",
        "class main:\n    def __init__(self, event, context):\n        pass\n",
    ],
    ids=["attribute", "call", "annotated", "unpacked", "re-export", "re-export-as", "try", "if", "class"],
)
def test_names_bound_at_module_level_count_as_defined(src: lambda_.Code, source: str) -> None:
    module_file(src, "api/entry.py", source)

    assert check_handler("api.entry.main", src) is None


def test_a_name_defined_only_under_the_main_guard_is_missing(src: lambda_.Code) -> None:
    module_file(src, "api/script.py", "if __name__ == '__main__':\n    def main(event, context):\n        pass\n")

    problem = check_handler("api.script.main", src)

    assert problem is not None
    assert problem.found.startswith("src/api/script.py defines no 'main' at the top level")


def test_a_name_that_is_only_annotated_is_missing(src: lambda_.Code) -> None:
    module_file(src, "api/typed.py", "from typing import Callable\nmain: Callable[..., object]\n")

    assert check_handler("api.typed.main", src) is not None


@pytest.mark.parametrize(
    "source",
    ["from api.handler import *\n", "def __getattr__(name):\n    return print\n"],
    ids=["star-import", "module-getattr"],
)
def test_modules_that_can_define_any_name_are_not_second_guessed(src: lambda_.Code, source: str) -> None:
    module_file(src, "api/dynamic.py", source)

    assert check_handler("api.dynamic.main", src) is None


def test_a_package_init_is_the_module(src: lambda_.Code) -> None:
    module_file(src, "reports/__init__.py", "def main(event, context):\n    return {}\n")

    assert check_handler("reports.main", src) is None
    assert check_handler("reports.mian", src) is not None


def test_a_folder_without_init_defines_nothing(src: lambda_.Code) -> None:
    module_file(src, "reports/daily/job.py", "def main(event, context):\n    pass\n")

    assert check_handler("reports.daily.job.main", src) is None
    problem = check_handler("reports.daily.main", src)
    assert problem is not None
    assert problem.found == (
        "src/reports/daily/ (a folder without __init__.py) defines no 'main' at the top level "
        "(it defines no functions)"
    )


def test_a_compiled_module_is_accepted_unread(src: lambda_.Code) -> None:
    module_file(src, "jobs/fast.cpython-312-aarch64-linux-gnu.so", "not python")

    assert check_handler("jobs.fast.anything", src) is None


def test_a_module_that_does_not_parse_is_reported_with_file_and_line(src: lambda_.Code) -> None:
    module_file(src, "jobs/broken.py", "import json\n\ndef process(record:\n    pass\n")

    problem = check_handler("jobs.broken.process", src)

    assert problem is not None
    assert problem.expected == "a module Python can parse"
    assert problem.found.startswith("src/jobs/broken.py:3: ")
    assert "import it on the first invocation" in problem.fix


def newer_python() -> lambda_.Runtime:
    """A Python runtime newer than this interpreter. Not ``lambda_.Runtime("python3.99", ...)``: constructing a
    Runtime adds it to CDK's process-wide list of runtimes, which cdk-nag's AwsSolutions-L1 reads to decide
    what "latest" is, so every later nag test in the process would fail on python3.14."""
    return cast(lambda_.Runtime, SimpleNamespace(name="python3.99", family=lambda_.RuntimeFamily.PYTHON))


def test_syntax_newer_than_this_interpreter_is_not_taken_for_an_error(src: lambda_.Code) -> None:
    module_file(src, "jobs/broken.py", "import json\n\ndef process(record:\n    pass\n")
    newer = newer_python()

    assert check_handler("jobs.broken.process", src, runtime=newer) is None


def test_an_async_def_is_still_caught_in_a_module_too_new_to_parse(src: lambda_.Code) -> None:
    module_file(src, "jobs/modern.py", "type Row = dict[str, int]\n\nasync def process(record):\n    pass\n")
    newer = newer_python()

    problem = check_handler("jobs.modern.process", src, runtime=newer)

    assert problem is not None
    assert problem.found == "src/jobs/modern.py:3 defines 'process' with async def"


def test_an_edited_module_is_read_again(src: lambda_.Code) -> None:
    assert check_handler("jobs.worker.retry", src) is not None

    module_file(src, "jobs/worker.py", WORKER + "\n\ndef retry(record):\n    pass\n")

    assert check_handler("jobs.worker.retry", src) is None


# --------------------------------------------------------------------------------------------------
# process= form
# --------------------------------------------------------------------------------------------------


def test_process_form_naming_a_function_passes(src: lambda_.Code) -> None:
    assert check_handler("jobs.worker:process", src, prop="process", form="process") is None


def test_process_given_in_dotted_form_explains_the_colon(src: lambda_.Code) -> None:
    problem = check_handler("jobs.worker.process", src, prop="process", form="process")

    assert problem == HandlerProblem(
        prop="process",
        value="jobs.worker.process",
        expected="'package.module:function' (e.g. 'orders.worker:process')",
        found="it has no ':' between the module and the function",
        fix="the worker runtime imports 'module:function': use 'jobs.worker:process'",
    )


def test_process_with_a_misspelt_module_suggests_the_colon_form(src: lambda_.Code) -> None:
    problem = check_handler("jobs.wroker:process", src, prop="process", form="process")

    assert problem is not None
    assert problem.found == "src/jobs/ has no wroker.py (found: worker.py, models.py)"
    assert problem.fix == "did you mean 'jobs.worker:process'?"


@pytest.mark.parametrize("value", ["jobs.worker:process:x", "process", ":process", "jobs.worker:"])
def test_malformed_process_is_rejected(src: lambda_.Code, value: str) -> None:
    problem = check_handler(value, src, prop="process", form="process")

    assert problem is not None
    assert problem.expected == "'package.module:function' (e.g. 'orders.worker:process')"


def test_process_may_name_an_attribute_of_a_module_level_object(src: lambda_.Code) -> None:
    module_file(src, "jobs/app.py", "class _App:\n    def run(self, record):\n        pass\n\napp = _App()\n")

    assert check_handler("jobs.app:app.run", src, prop="process", form="process") is None
    assert check_handler("jobs.app:ap.run", src, prop="process", form="process") is not None


def test_async_process_is_rejected(src: lambda_.Code) -> None:
    module_file(src, "jobs/aio.py", "async def process(record):\n    pass\n")

    problem = check_handler("jobs.aio:process", src, prop="process", form="process")

    assert problem is not None
    assert "def process_sync(record): return asyncio.run(process(record))" in problem.fix


# --------------------------------------------------------------------------------------------------
# Other kinds of code
# --------------------------------------------------------------------------------------------------

INLINE = lambda_.Code.from_inline("def main(event, context):\n    return event\n")


def test_inline_code_is_the_index_module(tmp_path: Path) -> None:
    scope = new_stack()

    assert check_handler("index.main", INLINE, scope=scope) is None
    problem = check_handler("app.main", INLINE, scope=scope)
    assert problem is not None
    assert problem.found == "inline code is saved as index.py"
    assert problem.fix == "use 'index.main', or give the code as a folder asset"


def test_inline_source_is_checked_when_a_scope_can_bind_it() -> None:
    problem = check_handler("index.mian", INLINE, scope=new_stack())

    assert problem is not None
    assert problem.found == "inline index.py defines no 'mian' at the top level (it defines: main)"
    assert problem.fix == "did you mean 'index.main'?"


def test_inline_source_is_not_read_without_a_scope() -> None:
    assert check_handler("index.mian", INLINE) is None
    assert check_handler("app.main", INLINE) is not None


def test_inline_syntax_error_names_the_line() -> None:
    code = lambda_.Code.from_inline("def main(event, context)\n    return event\n")

    problem = check_handler("index.main", code, scope=new_stack())

    assert problem is not None
    assert problem.found.startswith("inline index.py:1: ")


def test_bucket_code_gets_only_the_form_check() -> None:
    stack = new_stack()
    bucket = s3.Bucket.from_bucket_name(stack, "Artifacts", "artifacts")
    code = lambda_.Code.from_bucket(bucket, "functions/api.zip")

    assert check_handler("anything.at.all", code) is None
    assert check_handler("api/handler.main", code) is not None


def test_zip_asset_gets_only_the_form_check(tmp_path: Path) -> None:
    archive = tmp_path / "function.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    code = lambda_.Code.from_asset(str(archive))

    assert code_directory(code) is None
    assert check_handler("anything.main", code) is None
    assert check_handler("anything.py", code) is not None


def test_no_code_gets_only_the_form_check() -> None:
    assert check_handler("anything.main", None) is None
    assert check_handler("anything", None) is not None


def test_non_python_runtimes_and_tokens_are_not_checked(src: lambda_.Code) -> None:
    assert check_handler("dist/index.handler", src, runtime=lambda_.Runtime.NODEJS_20_X) is None
    assert check_handler(cdk.Fn.import_value("HandlerName"), src) is None
    assert check_handler(lambda_.Handler.FROM_IMAGE, None) is None


def test_relative_asset_path_is_read_from_the_current_directory(src: lambda_.Code) -> None:
    folder = code_directory(src)

    assert folder is not None
    assert folder.is_absolute()
    assert folder == Path.cwd() / "src"


# --------------------------------------------------------------------------------------------------
# Runtime roots and layers
# --------------------------------------------------------------------------------------------------


def test_a_module_from_a_runtime_root_passes(src: lambda_.Code, tmp_path: Path) -> None:
    root = write(tmp_path / "delivered", {"vendor_rt/__init__.py": "", "vendor_rt/entry.py": WORKER})

    assert check_handler("vendor_rt.entry.process", src) is not None
    assert check_handler("vendor_rt.entry.process", src, runtime_roots=[root]) is None
    problem = check_handler("vendor_rt.entry.proces", src, runtime_roots=[root])
    assert problem is not None
    assert problem.fix == "did you mean 'vendor_rt.entry.process'?"


def test_a_runtime_root_serves_only_its_packages(src: lambda_.Code, tmp_path: Path) -> None:
    root = write(tmp_path / "site", {"vendor_rt/entry.py": WORKER, "other/entry.py": WORKER})
    scoped = RuntimeRoot(root, packages=("vendor_rt",))

    assert check_handler("vendor_rt.entry.process", src, runtime_roots=[scoped]) is None
    assert check_handler("other.entry.process", src, runtime_roots=[scoped]) is not None


def test_a_misspelt_runtime_module_is_reported_where_the_lookup_got_furthest(
    src: lambda_.Code, tmp_path: Path
) -> None:
    root = write(tmp_path / "delivered", {"vendor_rt/entry.py": WORKER, "vendor_rt/record.py": ""})

    problem = check_handler("vendor_rt.entyr.process", src, runtime_roots=[root])

    assert problem is not None
    assert problem.found == "delivered/vendor_rt/ has no entyr.py (found: entry.py, record.py)"
    assert problem.fix == "did you mean 'vendor_rt.entry.process'?"


def test_the_shipped_worker_entry_is_found_in_the_library_runtime(src: lambda_.Code) -> None:
    entry = "lambda_manifest.runtime.worker.handler.main"

    assert check_handler(entry, src, runtime_roots=[LIBRARY_RUNTIME]) is None
    assert check_handler(entry, INLINE, runtime_roots=[LIBRARY_RUNTIME]) is None
    # The folder holding the library holds other installed code too, which Lambda never receives.
    assert check_handler("lambda_manifest._validation.is_token", src, runtime_roots=[LIBRARY_RUNTIME]) is not None


def test_opaque_layers_excuse_a_missing_module_but_not_a_missing_function(src: lambda_.Code) -> None:
    assert check_handler("from_layer.main", src, opaque_layers=True) is None
    assert check_handler("app.main", INLINE, opaque_layers=True) is None
    assert check_handler("jobs.worker.proces", src, opaque_layers=True) is not None
    assert check_handler("from/layer.main", src, opaque_layers=True) is not None


# --------------------------------------------------------------------------------------------------
# Reporting through the construct's Problems
# --------------------------------------------------------------------------------------------------


def test_problems_read_as_one_line_in_the_construct_error(src: lambda_.Code) -> None:
    problems = Problems("AsyncWorker", "Orders")
    add_to(problems, check_handler("jobs.wroker:process", src, prop="process", form="process"))
    add_to(problems, check_handler("jobs.worker:process", src, prop="process", form="process"))

    with pytest.raises(PropsError) as raised:
        problems.raise_if_any()

    assert str(raised.value) == (
        "AsyncWorker 'Orders' has invalid props:\n"
        "  - process must be a module in the function's code, got 'jobs.wroker:process'; "
        "src/jobs/ has no wroker.py (found: worker.py, models.py); did you mean 'jobs.worker:process'?"
    )


def test_a_problem_prints_as_the_line_it_adds(src: lambda_.Code) -> None:
    problem = check_handler("api/handler.main", src)
    problems = Problems("ObservedFunction", "Fn")
    add_to(problems, problem)

    with pytest.raises(PropsError) as raised:
        problems.raise_if_any()

    assert str(raised.value).endswith(f"  - {problem}")


def test_listing_is_capped(src: lambda_.Code) -> None:
    folder = code_directory(src)
    assert folder is not None
    for name in "abcdefgh":
        (folder / f"{name}{name}.py").write_text("")

    problem = check_handler("zz.main", src)

    assert problem is not None
    assert problem.found == "src/ has no zz.py (found: aa.py, api/, bb.py, cc.py, dd.py, ee.py, and 4 more)"
