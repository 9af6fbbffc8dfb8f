"""The README's example, run as written, in a directory holding `tessera init --small --demo demo`."""

import doctest
import re
import subprocess
from pathlib import Path

from conftest import _binary

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(markdown: str) -> str:
    """The ```python blocks of `markdown`, one after another, as one doctest text."""
    return "\n".join(re.findall(r"```python\n(.*?)```", markdown, flags=re.S))


def test_the_readme_example_works_as_written(tmp_path, monkeypatch):
    subprocess.run([_binary(), "init", "--small", "--demo", str(tmp_path / "demo")], check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    test = doctest.DocTestParser().get_doctest(python_blocks(README.read_text()), {}, "README.md", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.tries >= 15 and runner.failures == 0, "the README's example failed: see above"
