"""Shared test helpers (not fixtures: those are in `tests/conftest.py`): checkpoint factories, the manifest reader,
ways to run `camviz`, image writers and the headless-browser client."""
