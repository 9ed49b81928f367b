"""``python -m stream_app`` is the ``stream-app`` CLI."""

from stream_app.cli import main

raise SystemExit(main())
