"""The results as one self-contained HTML page: the summary by level first, then each group
with its checks colored by verdict and the exchange of each failure folded under it.

No scripts, fonts or files beside it: the page opens anywhere, also from a CI artifact.
Every text from the server is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from conformance.report import is_health, level_counts, verdict_line
from conformance.verdict import CheckResult, Level, Verdict

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
.verdict { font-weight: bold; font-size: 1.1em; padding: .5em; }
.meets { background: #dff5df; } .fails { background: #fbdcdc; }
tr.pass td.v { background: #dff5df; } tr.fail td.v { background: #fbdcdc; }
tr.skip td.v { background: #eee; color: #666; }
tr.fail.MUST td.v { background: #f5a3a3; }
pre { margin: .3em 0; white-space: pre-wrap; font-size: 12px; }
details summary { cursor: pointer; }
"""


def _summary(results: Sequence[CheckResult]) -> list[str]:
    counts = level_counts(results)
    meets = not any(
        r.verdict is Verdict.FAIL and (r.level is Level.MUST or is_health(r)) for r in results
    )
    html = [
        f'<p id="verdict" class="verdict {"meets" if meets else "fails"}">'
        f"{escape(verdict_line(results))}</p>",
        '<table id="levels"><tr><th>level</th><th>passed</th><th>failed</th><th>skipped</th></tr>',
    ]
    for level, c in counts.items():
        html.append(
            f'<tr data-level="{level.value}"><td>{level.value}</td><td>{c[Verdict.PASS]}</td>'
            f"<td>{c[Verdict.FAIL]}</td><td>{c[Verdict.SKIP]}</td></tr>"
        )
    html.append("</table>")
    return html


def _row(r: CheckResult) -> str:
    detail = escape(r.title)
    if r.verdict is Verdict.SKIP:
        detail += f" <em>(skipped: {escape(r.reason)})</em>"
    elif r.verdict is Verdict.FAIL:
        exchange = escape("\n".join(r.transcript))
        detail += (
            f"<details><summary>why: {escape(r.reason)}</summary>"
            f"<p>rule: {escape(r.rule)}</p><pre>{exchange}</pre></details>"
        )
    return (
        f'<tr id="{escape(r.id)}" class="{r.verdict.value} {r.level.value}">'
        f'<td class="v">{r.verdict.name}</td><td>{r.level.value}</td>'
        f"<td>{escape(r.id)}</td><td>{escape(r.rfc)}</td><td>{detail}</td></tr>"
    )


def to_html(target: str, results: Sequence[CheckResult]) -> str:
    """The whole page for `results` graded against `target`."""
    title = f"SMTP conformance of {target}"
    html = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        *_summary(results),
    ]
    groups: dict[str, list[CheckResult]] = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    for group, members in groups.items():
        html.append(f'<h2 id="group-{escape(group)}">{escape(group)}</h2>')
        html.append(
            "<table><tr><th>verdict</th><th>level</th><th>check</th><th>RFC</th><th>what</th></tr>"
        )
        html.extend(_row(r) for r in members)
        html.append("</table>")
    html.append("</body></html>")
    return "\n".join(html) + "\n"
