"""`python -m vidcolor` is the `vidcolor` command."""
from vidcolor.cli import main

main()
