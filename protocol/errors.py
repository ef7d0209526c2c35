"""The one exception for bad input, so every entry point reports it the same way."""

from __future__ import annotations


class InvalidInput(ValueError):
    """Input that breaks a rule: names the source, where in it, and the rule.

    ``str()`` gives the one line the CLI prints before exiting with status 2:
    ``"<source>: <where>: <rule>"``.
    """

    def __init__(self, source: str, where: str, rule: str) -> None:
        self.source = source
        self.where = where
        self.rule = rule
        super().__init__(f"{source}: {where}: {rule}")
