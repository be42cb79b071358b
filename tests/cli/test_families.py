"""camviz.cli.commands `families`, through the entry point: the family table, a row per family."""

from __future__ import annotations

from camviz.discovery.families import FAMILIES


def test_families_prints_the_table(camviz_main) -> None:
    result = camviz_main("families")

    assert result.returncode == 0, result.stderr
    for family in FAMILIES:
        row = next(line for line in result.stdout.splitlines() if line.split()[0] == family.name)
        assert all(path in row for path in family.paths) and (family.reshape or "-") == row.split()[-1]
