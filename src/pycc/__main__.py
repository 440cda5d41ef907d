"""``python -m pycc`` runs the command line."""

from pycc.cli import main

main()
