"""Started by ``wrapper`` in place of the managed runtime's own bootstrap: sets ``sys.path`` the way the
managed Python runtime does, then runs ``loop.main()``.

Lambda's order is the function's code (``LAMBDA_TASK_ROOT``), then the layers (``/opt/python`` and its
``lib/pythonX.Y/site-packages``), then the runtime's own packages (``LAMBDA_RUNTIME_DIR``, where boto3 lives),
then the interpreter's. Running this file puts its own folder first on ``sys.path``; it must not stay there,
or a module of this package could shadow one of the function's.
"""

import os
import sys


def _sys_path() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    layers = [f"/opt/python/lib/{version}/site-packages", "/opt/python"]
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR", "/var/runtime")
    rest = [p for p in sys.path if p and os.path.abspath(p) != here]
    ordered = [task_root, *[p for p in layers if os.path.isdir(p)], *rest]
    if os.path.isdir(runtime_dir) and runtime_dir not in ordered:
        ordered.append(runtime_dir)
    return list(dict.fromkeys(ordered))


if __name__ == "__main__":
    sys.path[:] = _sys_path()
    from lambda_manifest.runtime.stream.loop import main

    raise SystemExit(main())
