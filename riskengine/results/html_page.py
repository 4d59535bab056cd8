"""The shell every riskengine HTML page shares: offline, one style sheet.

The backtest report, the forecast evaluation, the comparison and the stress test
each write one self-contained page. They share its head: a Content-Security-Policy
that lets no request leave the page, and the base style below, to which a page adds
only the rules of its own tables.
"""

from __future__ import annotations

from html import escape

CONTENT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The page's Content-Security-Policy: no request of any kind leaves it."""

BASE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: %(width)s;
       color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } .muted { color: #666; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
.banner { background: #fdecea; border: 1px solid #c0392b; padding: 0.6em 1em;
          font-weight: bold; color: #c0392b; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }
td { white-space: nowrap; } td.text { white-space: normal; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
th.group { text-align: center; border-bottom: 1px solid #999; }
"""
"""Rules every page uses; ``%(width)s`` is the page's maximum width."""


def page_head(title: str, *, width: str = "72em", style: str = "") -> str:
    """The start of a page: doctype, head (policy, title, style) and ``<body>``.

    Parameters
    ----------
    title : str
        The page's title (escaped here).
    width : str, default "72em"
        The body's maximum width, a CSS length.
    style : str, default ""
        The page's own CSS rules, after the base style.
    """
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">'
        f"<title>{escape(title)}</title>"
        f"<style>{BASE_STYLE % {'width': width}}{style}</style></head><body>"
    )
