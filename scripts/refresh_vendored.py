"""Refresh the browser files the server ships (GraphiQL, React, graphql-ws) from the npm registry.

The pages at /graphql and /console load nothing from another host, so these files live in the package,
under dealgraph/server/static/vendor/<package>/, each package with its licence. Which packages, versions and
files is dealgraph/server/static/vendor/manifest.json; to move to a new version, change it there and run
`python scripts/refresh_vendored.py` (needs `npm`). Each file lands under its base name, so the pages name
`vendor/<package>/<file>` whatever the package's own layout. The script writes the registry's integrity hash
of each tarball into vendor/<package>/SOURCE, so a reviewer can check what was vendored.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "dealgraph" / "server" / "static" / "vendor"


def packed(name: str, version: str, into: Path) -> tuple[Path, str]:
    """The package's tarball fetched by `npm pack` into `into`, and the registry's integrity hash of it."""
    done = subprocess.run(
        ["npm", "pack", "--json", f"{name}@{version}"], cwd=into, capture_output=True, text=True, check=True
    )
    [info] = json.loads(done.stdout)
    return into / info["filename"], info["integrity"]


def refresh(name: str, version: str, files: list[str], work: Path) -> None:
    tarball, integrity = packed(name, version, work)
    target = VENDOR / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        for path in files:
            member = archive.extractfile(f"package/{path}")
            if member is None:
                sys.exit(f"{name}@{version} has no file {path}")
            (target / Path(path).name).write_bytes(member.read())
    (target / "SOURCE").write_text(f"{name}@{version} from the npm registry, tarball integrity {integrity}\n")
    print(f"{name}@{version}: {', '.join(Path(path).name for path in files)}")


def main() -> None:
    manifest = json.loads((VENDOR / "manifest.json").read_text())
    with tempfile.TemporaryDirectory() as work:
        for name, package in manifest.items():
            refresh(name, package["version"], package["files"], Path(work))


if __name__ == "__main__":
    main()
