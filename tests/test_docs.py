"""The README cannot drift from the code: its console examples are the real output,
and every command and option appears in it."""

import re

import pytest
from conftest import ROOT, invoke

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _examples():
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        command, _, output = block.partition("\n")
        assert command.startswith("$ lstm-inspect ")
        yield command[len("$ lstm-inspect "):].split(), output


@pytest.mark.parametrize("args, output", list(_examples()))
def test_readme_examples_are_real_output(runner, monkeypatch, args, output):
    monkeypatch.chdir(ROOT)
    result = invoke(runner, args)
    assert result.exit_code == (3 if "Result: diverges." in output else 0)  # compare's "diverges" status
    assert result.stdout == output


def test_every_command_and_option_is_documented():
    from lstm_inspect.cli import cli

    for param in cli.params:  # the group's own options (--color/--no-color)
        for opt in [*param.opts, *param.secondary_opts]:
            if opt.startswith("--") and opt not in ("--help", "--version"):
                assert opt in README, opt
    for name, command in cli.commands.items():
        assert command.help, name
        assert f"lstm-inspect {name}" in README, name
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt != "--help":
                    assert opt in README, (name, opt)
