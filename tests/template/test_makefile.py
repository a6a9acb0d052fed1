"""`make` (the help) names every target the Makefile declares."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from sandbox.paths import REPO_ROOT


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lists_every_target():
    makefile = (REPO_ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:((?:.*\\\n)*.*)$", makefile, re.M).group(1)
    targets = set(phony.replace("\\\n", " ").split()) - {"help"}
    shown = subprocess.run(["make", "--no-print-directory", "-s"], cwd=REPO_ROOT, capture_output=True, text=True,
                           check=True).stdout
    named = set(re.findall(r"\bmake ([a-z-]+)", shown)) | set(re.findall(r"\| ([a-z-]+)", shown))
    assert targets <= named, f"not in `make`'s list: {sorted(targets - named)}"
