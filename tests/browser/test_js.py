"""The JavaScript the browser tests run in the page (js/*.js) is well-formed, without a browser.

Each file holds one function expression, as ``page.evaluate`` takes it; ``node --check``
parses it wrapped in an assignment, so a file with anything else (a second statement, a
syntax error) fails here instead of in the middle of a browser test.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import JS_DIR, load_js

NODE = shutil.which("node")
SCRIPTS = sorted(JS_DIR.glob("*.js"))


def test_there_are_scripts():
    assert SCRIPTS, f"no .js files in {JS_DIR}"


@pytest.mark.skipif(NODE is None, reason="node is not installed: `apt-get install nodejs`")
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_each_script_is_one_function_expression_that_parses(script, tmp_path):
    wrapped = tmp_path / script.name
    wrapped.write_text(f"const probe = (\n{load_js(script.stem)}\n);\n")
    done = subprocess.run([NODE, "--check", str(wrapped)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, f"{script.name} does not parse:\n{done.stderr}"


def test_find_panel_is_the_same_in_every_script_that_defines_it():
    # state.js, problems.js and mark_slider.js each carry their own copy (each file must
    # stand alone for page.evaluate): the copies must not drift apart.
    pattern = re.compile(r"const findPanel = .*?\n  };", re.S)
    copies = {p.name: pattern.search(p.read_text()) for p in SCRIPTS}
    copies = {name: m.group(0) for name, m in copies.items() if m}
    assert len(copies) >= 3, sorted(copies)
    assert len(set(copies.values())) == 1, f"findPanel differs between {sorted(copies)}"
