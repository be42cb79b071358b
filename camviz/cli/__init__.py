"""The `camviz` command line: the Typer app, option parsing beyond Typer's types, console output and progress.

Holds no logic the Python API lacks: each command builds options, calls `camviz.run`, prints the result.
"""
