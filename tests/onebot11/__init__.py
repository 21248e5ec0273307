"""Tests of the OneBot v11 adapter, against a fake implementation (``fake/``)."""
