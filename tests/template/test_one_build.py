"""`make build` and `cargo test` share one build: every crate both compile has the same features
in each, so neither command recompiles what the other built (cargo unifies features per command,
and counts dev-dependencies only when tests are built; cli/Cargo.toml says how they are kept
equal). Checked with cargo's own resolver (`cargo tree`), without building anything.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from sandbox.paths import REPO_ROOT

LINE = re.compile(r"^(\S+) v(\S+)(?: \(.*?\))? \[(.*)\]$")


def features(edges: str) -> dict[tuple[str, str], set[str]]:
    tree = subprocess.run(["cargo", "tree", "--locked", "--offline", "--workspace", "-e", edges,
                           "-f", "{p} [{f}]", "--prefix", "none", "--no-dedupe"],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    found: dict[tuple[str, str], set[str]] = {}
    for line in tree.splitlines():
        match = LINE.match(line.replace(" (*)", "").strip())
        if match:
            name, version, feats = match.groups()
            found.setdefault((name, version), set()).update(f for f in feats.split(",") if f)
    return found


@pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo")
def test_the_binaries_build_and_the_tests_build_agree_on_every_shared_crates_features():
    binaries = features("normal,build")            # cargo build --workspace --bins
    tests = features("normal,build,dev")           # cargo test --workspace
    assert binaries, "cargo tree printed nothing"
    differ = {f"{name} {version}: {sorted(tests[(name, version)] - feats)}"
              for (name, version), feats in binaries.items() if tests.get((name, version), feats) != feats}
    assert not differ, ("these crates would be compiled twice, once per command (give the binaries "
                        "the tests' features, see cli/Cargo.toml): " + "; ".join(sorted(differ)))
