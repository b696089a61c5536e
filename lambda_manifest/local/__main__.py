"""``python -m lambda_manifest.local [--app-dir .] [--assembly cdk.out] [--stack NAME ...] [--port N]
[--fire RULE ...] [--secrets-file local-secrets.json] [--verbose]``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from lambda_manifest.local.extra import MissingExtra, require_runner_packages
from lambda_manifest.local.logs import ChildStartError, Console, ConsoleLogHandler
from lambda_manifest.local.runner import LocalRunner, Options
from lambda_manifest.local.synth import stale_reason, synthesize


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lambda_manifest.local", description=__doc__)
    parser.add_argument("--app-dir", type=Path, default=Path("."), help="the CDK app (where cdk.json is); default .")
    parser.add_argument("--assembly", type=Path, default=None, help="the cloud assembly; default <app-dir>/cdk.out")
    parser.add_argument("--stack", action="append", default=[], help="run only this stack (repeatable); default all")
    parser.add_argument("--port", type=int, default=None,
                        help="first API port (APIs get N, N+1, ...; the control endpoint comes last); 0 = free ports; "
                             "default 3000 upwards")
    parser.add_argument("--moto-port", type=int, default=0, help="port of the moto server; default a free one")
    parser.add_argument("--fire", action="append", default=[], metavar="RULE",
                        help="after start-up, fire this schedule rule (logical id, name or construct id) once")
    parser.add_argument("--exit-after-fire", action="store_true", help="stop after the --fire invocations finish")
    parser.add_argument("--secrets-file", type=Path, default=None,
                        help="JSON object: secret logical id / name / construct path -> value (default "
                             "<app-dir>/local-secrets.json when it exists)")
    parser.add_argument("--no-synth", action="store_true", help="use the assembly as it is, even when stale")
    parser.add_argument("--from-assets", action="store_true",
                        help="run code from cdk.out's asset folders, not from the matching source folders")
    parser.add_argument("--max-concurrency", type=int, default=10, help="worker processes per function; default 10")
    parser.add_argument("--max-visibility-timeout", type=int, default=None, metavar="SECONDS",
                        help="cap every queue's visibility timeout (failed messages come back sooner than the "
                             "template's value); default: the template's values")
    parser.add_argument("--real-llm", action="store_true",
                        help="AI gateway: keep the template's OpenAI and Anthropic provider URLs (default: a local "
                             "model answers them; Bedrock is always answered by the local model)")
    parser.add_argument("--llm-reply", default=None, metavar="TEXT",
                        help="what the local model answers (default: '[local model] <last user message>')")
    parser.add_argument("--llm-piece-delay", type=float, default=0.02, metavar="SECONDS",
                        help="seconds between the words of a streamed local-model answer; default 0.02")
    parser.add_argument("--ready-file", type=Path, default=None, help="write the endpoints as JSON here when ready")
    parser.add_argument("--quiet", action="store_true", help="no access log or per-invocation lines")
    parser.add_argument("--verbose", action="store_true",
                        help="also show moto's request log and the AWS SDK's INFO lines (boto3, botocore, "
                             "urllib3), in the runner and in every function; default: the handlers' own logs only")
    parser.add_argument("--no-color", action="store_true")
    return parser.parse_args(argv)


SDK_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3")


def _sdk_logging(console: Console, verbose: bool) -> None:
    """The runner's own SDK clients: their INFO lines through the console with ``--verbose``, else
    warnings at most."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO if verbose else logging.WARNING)
        if verbose and not any(isinstance(h, ConsoleLogHandler) for h in logger.handlers):
            logger.addHandler(ConsoleLogHandler(console))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    console = Console(color=False if args.no_color else None, quiet=args.quiet)
    try:
        require_runner_packages()
    except MissingExtra as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 1
    _sdk_logging(console, args.verbose)
    app_dir = args.app_dir.resolve()
    assembly = (args.assembly or app_dir / "cdk.out").resolve()
    if not args.no_synth:
        reason = stale_reason(app_dir, assembly)
        if reason:
            console.line("local", f"synthesizing: {reason}")
            ok, error, elapsed = synthesize(app_dir, assembly)
            if not ok:
                console.line("local", f"cdk synth failed after {elapsed:.1f} s:\n{error}")
                return 1
            console.line("local", f"synthesized in {elapsed:.1f} s")
    if not (assembly / "manifest.json").exists():
        console.line("local", f"no cloud assembly at {assembly}; run `npx cdk synth` first")
        return 1
    secrets = args.secrets_file or (app_dir / "local-secrets.json")
    options = Options(assembly=assembly, app_dir=app_dir, stacks=args.stack, port=args.port,
                      moto_port=args.moto_port, secrets_file=secrets if secrets.exists() else None,
                      from_assets=args.from_assets, max_concurrency=args.max_concurrency, ready_file=args.ready_file,
                      max_visibility_timeout=args.max_visibility_timeout, real_llm=args.real_llm,
                      llm_reply=args.llm_reply, llm_piece_delay=args.llm_piece_delay, verbose=args.verbose)
    runner = LocalRunner(options, console)
    stop = threading.Event()
    firing = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        if firing.is_set():  # waiting for a fired schedule: stop now, the workers are killed below
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        runner.start()
        console.raw(runner.table())
        firing.set()
        for name in args.fire:
            try:
                outcomes = runner.fire(name)
            except KeyError as exc:
                console.line("local", str(exc.args[0]))
                code = 2
                continue
            if not all(o.get("ok") for o in outcomes):
                code = 1
        firing.clear()
        if args.exit_after_fire and args.fire:
            return code
        while not stop.wait(0.5):
            pass
    except SystemExit as exc:
        console.line("local", str(exc))
        return 2
    except ChildStartError as exc:
        console.line("local", str(exc))
        return 1
    except KeyboardInterrupt:
        code = 130
    finally:
        started = time.monotonic()
        runner.stop()
        console.line("local", f"stopped everything in {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
