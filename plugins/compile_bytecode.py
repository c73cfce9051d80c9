"""Add hash-based bytecode for every `.py` file of a Lambda zip, compiled by this interpreter.

    python3.12 plugins/compile_bytecode.py .serverless/number-prediction.zip

Run by the serverless plugin next to it (`compile-bytecode.js`) on the finished zip. The
interpreter must be the Lambda runtime's CPython (the zip's extension modules say which), since a
`.pyc` is only read by the version that wrote it. The `.pyc` files are `unchecked-hash`: the
packager dates every zip entry alike, so timestamps prove nothing, and the code in /var/task never
changes, so checking the source on each import would only cost time. Compiled files are named as
Python looks for them (`pkg/__pycache__/mod.cpython-312.pyc`) and record `/var/task/...` as their
source path, where Lambda unpacks the zip.
"""

from __future__ import annotations

import compileall
import py_compile
import re
import sys
import tempfile
import zipfile
from pathlib import Path

LAMBDA_TASK_ROOT = "/var/task"
REQUIRED = "api/"  # the handler's own package: every module of it must compile


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: compile_bytecode.py BUNDLE.zip", file=sys.stderr)
        return 2
    bundle = Path(argv[0])
    tag = sys.implementation.cache_tag  # e.g. cpython-312
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        built_for = {m.group(1) for name in names if (m := re.search(r"\.(cpython-\d+)-", name))}
        if built_for - {tag}:
            print(
                f"{bundle.name} holds extension modules for {', '.join(sorted(built_for))}; "
                f"run this with that Python, not {tag}",
                file=sys.stderr,
            )
            return 1
        sources = [name for name in names if name.endswith(".py")]
        date_time = archive.getinfo(sources[0]).date_time if sources else (2098, 1, 1, 0, 0, 0)
        with tempfile.TemporaryDirectory(prefix="compile-bytecode-") as tmp:
            for name in sources:
                archive.extract(name, tmp)
            ok = compileall.compile_dir(
                tmp,
                quiet=2,
                ddir=LAMBDA_TASK_ROOT,
                workers=0,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            compiled = sorted(p.relative_to(tmp).as_posix() for p in Path(tmp).rglob(f"*.{tag}.pyc"))
            missing = [name for name in sources if name.startswith(REQUIRED) and _cached(name, tag) not in compiled]
            if missing:
                print(f"could not compile {', '.join(missing)}", file=sys.stderr)
                return 1
            present = set(names)
            with zipfile.ZipFile(bundle, "a", compression=zipfile.ZIP_DEFLATED) as out:
                for name in compiled:
                    if name in present:
                        continue
                    info = zipfile.ZipInfo(name, date_time)
                    info.external_attr = 0o644 << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    out.writestr(info, (Path(tmp) / name).read_bytes())
    skipped = "" if ok else " (a few modules that do not compile on this Python were left as source)"
    print(
        f"compile-bytecode: {len(compiled)} of {len(sources)} modules in {bundle.name} compiled for {tag}, "
        f"unchecked-hash{skipped}"
    )
    return 0


def _cached(source: str, tag: str) -> str:
    folder, _, module = source.rpartition("/")
    return f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc" if folder else f"__pycache__/{module[:-3]}.{tag}.pyc"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
