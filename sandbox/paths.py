"""Where the sandbox finds the repository's files: the binary it runs and the recorded answers.

One job: every path the sandbox, its demos and its benchmarks need, decided once. The sandbox is
installed in editable mode (`pip install -e ./sandbox`, as the Makefile does), so this file sits in
the repository and the repository root is its parent's parent.

The binary is `$REGISTRAR_BOOTSTRAP` when set; otherwise cargo's target directory
(`$CARGO_TARGET_DIR`, as cargo itself reads it, else `target/` in the repository) holds it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Datadog's recorded answers: the Datadog emulator's ground truth, also replayed by the Rust
# contract test (tests/datadog_contract.rs), so they live with the tests.
DATADOG_RECORDINGS = REPO_ROOT / "tests" / "data" / "datadog"
EVENTS = REPO_ROOT / "events"


def in_repo(path: str | os.PathLike) -> Path:
    """`path` as an absolute path; a relative one is taken from the repository root."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def target_dir() -> Path:
    """cargo's target directory: `$CARGO_TARGET_DIR` if set, else `target/` in the repository."""
    configured = os.environ.get("CARGO_TARGET_DIR")
    return in_repo(configured) if configured else REPO_ROOT / "target"


def bootstrap_path(profile: str = "debug") -> Path:
    """`$REGISTRAR_BOOTSTRAP`, else `<target dir>/<profile>/bootstrap` (`cargo build [--release]`)."""
    configured = os.environ.get("REGISTRAR_BOOTSTRAP")
    return in_repo(configured) if configured else target_dir() / profile / "bootstrap"


def registrar_path(profile: str = "debug") -> Path:
    """`$REGISTRAR_CLI`, else `<target dir>/<profile>/registrar` (the CLI, `cargo build -p registrar-cli`)."""
    configured = os.environ.get("REGISTRAR_CLI")
    return in_repo(configured) if configured else target_dir() / profile / "registrar"


def lambda_zip() -> Path:
    """The deployable arm64 zip `make zip` builds (`cargo lambda build --output-format zip`)."""
    return target_dir() / "lambda" / "bootstrap" / "bootstrap.zip"


def shown(path: Path) -> str:
    """`path` relative to the repository root when it is inside it, for printing."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
