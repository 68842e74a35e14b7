"""``python -m cintel``: the same as the ``cintel`` command."""

from cintel.cli import main

main()
