"""`python -m modeling_xlner.cli`: the `xlner` command."""

from . import main

main()
