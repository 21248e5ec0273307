"""``python -m waiter_sdk`` is the ``waiter-sdk`` command."""

from .cli import main

raise SystemExit(main())
