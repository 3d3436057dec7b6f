"""``python -m ssmas``: the ``ssmas`` command, for processes started with the interpreter."""

from ssmas.cli import main

main()
