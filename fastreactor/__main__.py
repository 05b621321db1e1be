"""`python -m fastreactor serve ...`: see fastreactor._serve.cli."""
import sys

from fastreactor._serve.cli import main

if __name__ == "__main__":
    sys.exit(main())
