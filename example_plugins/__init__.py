"""Runnable example plugins, one folder each; the docs quote them and tests run them."""
