"""The results stage: metrics over a finished run, its tables, reports and provenance.

`metrics` holds pure functions over returns and weights; `report` writes a run's
files; `html_report` renders the self-contained HTML page; `provenance` records the
versions and fingerprints every output carries.
"""
