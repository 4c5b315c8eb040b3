"""Allow ``python -m sipwatch``."""

from __future__ import annotations

from sipwatch.cli import main

main()
