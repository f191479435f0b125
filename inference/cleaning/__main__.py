"""`python3 -m s2cloudmask.inference.cleaning PRODUCTS OUT`: a composite from a shell, with the plugin's own packages
(importing the inference package has put them on sys.path)."""

import sys

if __name__ == "__main__":
    from ..gdal_mode import use_gdal_exceptions
    from .cli import main

    use_gdal_exceptions()  # the shell's process is the composite's own
    sys.exit(main())
