"""`python3 -m s2cloudmask.inference.batch PRODUCTS OUT`: the batch runner from a shell, with the plugin's own packages."""

import sys

if __name__ == "__main__":
    from ...toolbelt import dependencies

    dependencies.activate()
    from .cli import main

    sys.exit(main())
