"""The README quotes the exact command behind every figure, and shows every figure."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (ROOT / "analyses").glob("*.py")
                 if p.name != "make_all.py" and not p.name.startswith("_"))


def command_of(script):
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "COMMAND":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{script.name} has no COMMAND")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_readme_quotes_the_command_and_shows_the_figure(script):
    readme = (ROOT / "README.md").read_text()
    command = command_of(script)
    assert command in readme, f"README does not quote: {command}"
    figure = next(word for word in command.split() if word.startswith("figures/"))
    assert f"]({figure})" in readme, f"README does not show {figure}"
