"""Everything a run writes: stable safe names, atomic files and the locked output dir, figures, the writer
pool, `manifest.csv`, the summary and the static gallery (its page is package data: `gallery.html`).

Imports `camviz.cam`, `camviz.data`, `camviz.discovery` and `camviz.errors`. Never computes CAMs.
"""
