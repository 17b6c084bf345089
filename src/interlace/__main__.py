"""``python -m interlace`` is the ``interlace`` command."""

from .cli import main

raise SystemExit(main())
