"""The ``filinglake`` command line: one module per command group, one exit-code policy (``main``).

The CLI may import every part of the library; nothing in the library imports the CLI.
"""

from filinglake.cli.app import main

__all__ = ["main"]
