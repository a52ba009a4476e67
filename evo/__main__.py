"""``python -m evo``: the same as the ``evo`` command."""

from evo.cli import main

main()
