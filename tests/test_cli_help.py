"""Every option and argument of every ``refsim`` sub-command has help text, and an option with a
default (other than None/off) states it in its help."""

import argparse

from refsim.cli.app import build_parser


def _actions(parser, path):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _actions(sub, path + [name])
        elif not isinstance(a, argparse._HelpAction):
            yield " ".join(path), a


def test_every_option_has_help_and_states_its_default():
    missing, no_default = [], []
    seen = 0
    for cmd, a in _actions(build_parser(), ["refsim"]):
        seen += 1
        flag = "/".join(a.option_strings) or a.dest
        if not a.help or a.help == argparse.SUPPRESS:
            missing.append(f"{cmd} {flag}")
        elif (a.default not in (None, False, [], argparse.SUPPRESS) and not isinstance(a, argparse._StoreTrueAction)
              and "default" not in a.help.lower()):
            no_default.append(f"{cmd} {flag} (default {a.default!r})")
    assert seen > 50, seen  # the walk reached the sub-commands
    assert not missing, f"options without help text: {missing}"
    assert not no_default, f"options whose help does not state the default: {no_default}"
