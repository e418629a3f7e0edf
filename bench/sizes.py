"""Layer and function package sizes after `make build` (.aws-sam/build).

Unzipped = the bytes of every file; zipped = the archive `sam deploy` would upload (deflate).
Also counts .py and .pyc files: the build ships bytecode beside the sources (`make build`
compiles it; /opt and /var/task are read-only, so Lambda could not cache it itself). A .pyc
count of 0 means the build skipped that step and every module compiles at each cold start.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

from bench.common import BUILD_DIR, functions, template

TARGET_LAYER_BYTES = 30 * 1024 * 1024


def _files(root: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, names in os.walk(root):
        out.extend(Path(dirpath) / n for n in names)
    return sorted(out)


def _zipped(root: Path, files: list[Path]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(root))
    return buffer.tell()


def measure(root: Path, *, top: int = 0) -> dict[str, Any]:
    files = _files(root)
    result: dict[str, Any] = {
        "path": str(root.relative_to(BUILD_DIR.parent.parent)),
        "unzipped_bytes": sum(p.stat().st_size for p in files),
        "zipped_bytes": _zipped(root, files),
        "files": len(files),
        "py_files": sum(p.suffix == ".py" for p in files),
        "pyc_files": sum(p.suffix == ".pyc" for p in files),
    }
    if top:
        base = root / "python" if (root / "python").is_dir() else root
        sizes: dict[str, int] = {}
        for p in files:
            rel = p.relative_to(base).parts if p.is_relative_to(base) else p.parts
            if rel and not rel[0].endswith((".dist-info", ".data")):
                sizes[rel[0]] = sizes.get(rel[0], 0) + p.stat().st_size
        result["largest"] = dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:top])
        so = [p.name for p in files if p.suffix == ".so"]
        arch = {a for a in ("aarch64", "x86_64") for name in so if a in name}
        result["architecture"] = ",".join(sorted(arch)) or "pure python"
    return result


def run() -> dict[str, Any]:
    if not BUILD_DIR.is_dir():
        return {"error": f"{BUILD_DIR} is missing: run `make build` first"}
    layers = [
        logical_id
        for logical_id, res in template()["Resources"].items()
        if res.get("Type") == "AWS::Serverless::LayerVersion"
    ]
    out: dict[str, Any] = {"target_layer_bytes": TARGET_LAYER_BYTES, "layers": {}, "functions": {}}
    for logical_id in layers:
        path = BUILD_DIR / logical_id
        out["layers"][logical_id] = (
            measure(path, top=6) if path.is_dir() else {"error": f"{path} missing"}
        )
    for folder, logical_id in functions().items():
        path = BUILD_DIR / logical_id
        out["functions"][folder] = measure(path) if path.is_dir() else {"error": f"{path} missing"}
    sized = [v for v in out["layers"].values() if "unzipped_bytes" in v]
    out["within_target"] = bool(sized) and all(
        v["unzipped_bytes"] <= TARGET_LAYER_BYTES for v in sized
    )
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
