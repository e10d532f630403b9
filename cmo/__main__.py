"""``python -m cmo`` is the ``cmo`` command."""

from cmo.cli.main import main

main()
