"""`python -m ml_model`: see `ml_model.cli`."""

from .cli import main

raise SystemExit(main())
