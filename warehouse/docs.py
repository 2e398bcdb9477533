"""``smw docs``: the model catalog as one self-contained static HTML page (no network needed to view it).

Every model with its description, grain, materialization, columns and tests, upstream and downstream models,
and its SQL; a lineage graph as inline SVG on top; a filter box. Only the project files are read, not the warehouse.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from sqlglot import Dialect
from sqlglot.tokens import TokenType

from warehouse.checks import checks_for, test_name
from warehouse.header import TestSpec
from warehouse.lineage import colors, layout, render_svg
from warehouse.models import SOURCE_DIALECT, Model, Project


def write_catalog(project: Project, out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    tmp = out_dir / ".index.html.tmp"
    tmp.write_text(render_catalog(project), encoding="utf-8")
    tmp.replace(path)  # a reader never sees a half-written page
    return path


def render_catalog(project: Project, title: str = "serviceminder-warehouse models") -> str:
    schemas: dict[str, list[str]] = {}
    for name, model in project.models.items():
        schemas.setdefault(model.schema, []).append(name)
    nav = []
    for schema in sorted(schemas, key=_schema_rank):
        items = "".join(
            f'<li data-name="{escape(n)}"><a href="#model-{escape(n)}">{escape(n.split(".", 1)[1])}</a></li>'
            for n in sorted(schemas[schema])
        )
        nav.append(f'<h3><span class="dot" style="background:{colors(schema)[1]}"></span>{escape(schema)}</h3>')
        nav.append(f"<ul>{items}</ul>")
    sections = [_model_section(project, project.models[n]) for n in project.order]
    raw = project.raw_sources
    legend = "".join(
        f'<span class="legend-item"><span class="swatch" style="background:{colors(s)[0]};border-color:'
        f'{colors(s)[1]}"></span>{escape(s)}</span>'
        for s in sorted({"raw", *schemas}, key=_schema_rank)
    )
    summary = (
        f"{len(project.models)} models in {len(schemas)} schemas, reading {len(raw)} raw tables. "
        f"Built in the order below; every model's grain is tested unique and not null."
    )
    return _PAGE.format(
        title=escape(title),
        summary=escape(summary),
        legend=legend,
        svg=render_svg(layout(project)),
        nav="\n".join(nav),
        sections="\n".join(sections),
        sources=_sources_section(project),
        css=_CSS,
        js=_JS,
    )


def _schema_rank(schema: str) -> tuple[int, str]:
    ranks = {"raw": 0, "staging": 1, "marts": 2, "reports": 3}
    return (ranks.get(schema, 4), schema)


def _link(name: str, project: Project) -> str:
    if name in project.models:
        return f'<a class="ref" href="#model-{escape(name)}">{escape(name)}</a>'
    return f'<a class="ref raw" href="#source-{escape(name)}">{escape(name)}</a>'


def _model_section(project: Project, model: Model) -> str:
    config = model.config
    reads = [*model.depends_on, *model.sources]
    read_by = project.downstream(model.name)
    fill, stroke = colors(model.schema)
    grain = ", ".join(f"<code>{escape(g)}</code>" for g in config.grain)
    meta = [
        ("Grain", f"{grain} <span class='muted'>(tested unique and not null)</span>"),
        ("Reads", ", ".join(_link(n, project) for n in reads) or "<span class='muted'>nothing</span>"),
        ("Read by", ", ".join(_link(n, project) for n in read_by) or "<span class='muted'>no model</span>"),
        ("File", f"<code>{escape(_display_path(project, model))}</code>"),
    ]
    meta_html = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in meta)
    rows = []
    for column in config.columns:
        tests = " ".join(_test_badge(t, project) for t in column.tests)
        if column.name in config.grain:
            tests = '<span class="badge grain" title="part of the grain">grain</span> ' + tests
        description = _prose(column.description) if column.description else '<span class="muted">-</span>'
        rows.append(f"<tr><td><code>{escape(column.name)}</code></td><td>{description}</td><td>{tests}</td></tr>")
    columns_html = (
        "<table class='columns'><thead><tr><th>Column</th><th>Description</th><th>Tests</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p class='muted'>No columns documented.</p>"
    )
    model_tests = "".join(f"<li>{_test_badge(t, project)}</li>" for t in config.tests)
    model_tests_html = f"<h4>Model tests</h4><ul class='tests'>{model_tests}</ul>" if model_tests else ""
    count = len(checks_for(model))
    return f"""
<section class="model" id="model-{escape(model.name)}" data-name="{escape(model.name)}">
  <div class="model-head" style="border-left-color:{stroke}">
    <h2>{escape(model.name)}</h2>
    <span class="badge schema" style="background:{fill};border-color:{stroke}">{escape(model.schema)}</span>
    <span class="badge kind">{escape(model.materialized)}</span>
    <span class="badge count">{count} tests</span>
  </div>
  <p class="description">{_prose(model.description)}</p>
  <table class="meta">{meta_html}</table>
  {columns_html}
  {model_tests_html}
  <details class="sql"><summary>SQL</summary><pre><code>{highlight_sql(model.sql)}</code></pre></details>
</section>"""


def _prose(text: str) -> str:
    """Escaped text, with `backticks` shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _display_path(project: Project, model: Model) -> str:
    try:
        return str(Path(project.models_dir.name) / model.path.relative_to(project.models_dir))
    except ValueError:
        return str(model.path)


def _test_badge(spec: TestSpec, project: Project) -> str:
    warn = " warn" if spec.severity == "warn" else ""
    suffix = " <em>(warn)</em>" if warn else ""
    if spec.kind == "accepted_values":
        values = ", ".join(str(v) for v in spec.values)
        return (
            f'<span class="badge test{warn}" title="{escape(values)}">accepted_values: {escape(values)}{suffix}</span>'
        )
    if spec.kind == "relationships":
        target = _link(spec.to or "", project)
        return f'<span class="badge test{warn}">relationships &rarr; {target}.{escape(spec.field or "")}{suffix}</span>'
    if spec.kind == "expression":
        return f'<span class="badge test{warn}">expression: <code>{escape(spec.expression or "")}</code>{suffix}</span>'
    return f'<span class="badge test{warn}">{escape(test_name(spec) if not spec.column else spec.kind)}{suffix}</span>'


def _sources_section(project: Project) -> str:
    items = []
    for source in project.raw_sources:
        readers = ", ".join(_link(n, project) for n in project.downstream(source))
        items.append(f'<li id="source-{escape(source)}"><code>{escape(source)}</code> &larr; read by {readers}</li>')
    body = "".join(items) or "<li class='muted'>none</li>"
    return (
        f"<section class='sources' id='raw-sources'><h2>Raw tables</h2><p class='muted'>Loaded by the pipeline "
        f"(dlt), read only by models.</p><ul>{body}</ul></section>"
    )


def highlight_sql(sql: str) -> str:
    """HTML for ``sql`` with keywords, functions, strings, numbers and comments marked; the text is unchanged."""
    try:
        tokens = Dialect.get_or_raise(SOURCE_DIALECT).tokenize(sql)
    except Exception:  # noqa: BLE001 - show the SQL plain rather than fail the page
        return escape(sql)
    out = []
    position = 0
    for i, token in enumerate(tokens):
        gap = sql[position : token.start]
        if gap:
            out.append(f'<span class="c">{escape(gap)}</span>' if gap.strip() else escape(gap))
        text = escape(sql[token.start : token.end + 1])
        kind = token.token_type
        if kind == TokenType.STRING:
            out.append(f'<span class="s">{text}</span>')
        elif kind == TokenType.NUMBER:
            out.append(f'<span class="n">{text}</span>')
        elif kind == TokenType.VAR and i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.L_PAREN:
            out.append(f'<span class="f">{text}</span>')
        elif kind not in (TokenType.VAR, TokenType.IDENTIFIER) and token.text.isalpha():
            out.append(f'<span class="k">{text}</span>')
        else:
            out.append(text)
        position = token.end + 1
    rest = sql[position:]
    if rest:
        out.append(f'<span class="c">{escape(rest)}</span>' if rest.strip() else escape(rest))
    return "".join(out)


_CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --card:#fff; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color:var(--ink); background:var(--bg); }
header.top { padding:18px 28px 14px; background:#0f172a; color:#f8fafc; }
header.top h1 { margin:0; font-size:20px; font-weight:650; letter-spacing:.2px; }
header.top p { margin:4px 0 0; color:#cbd5e1; }
.lineage-box { margin:18px 28px 8px; background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:12px 14px; }
.lineage-box h2 { margin:0 0 6px; font-size:15px; }
.legend { display:flex; gap:14px; color:var(--muted); font-size:12px; margin-bottom:6px; }
.legend-item { display:inline-flex; align-items:center; gap:5px; }
.swatch { width:14px; height:10px; border:1.5px solid; border-radius:3px; display:inline-block; }
.scroll { overflow-x:auto; }
svg.lineage .node { cursor:pointer; }
svg.lineage .source { cursor:default; }
svg.lineage .edge { transition: stroke .1s; }
svg.lineage .edge.hot { stroke:var(--accent); stroke-width:2.4; }
svg.lineage .node.hot rect { stroke-width:3; }
.layout { display:flex; gap:24px; padding:10px 28px 40px; align-items:flex-start; }
nav { position:sticky; top:12px; width:250px; flex:none; background:var(--card); border:1px solid var(--line);
  border-radius:10px; padding:12px 14px; max-height:calc(100vh - 24px); overflow:auto; }
nav input { width:100%; padding:6px 9px; border:1px solid var(--line); border-radius:6px; font:inherit; }
nav h3 { font-size:12px; text-transform:uppercase; letter-spacing:.6px; color:var(--muted); margin:14px 0 4px; }
nav ul { list-style:none; margin:0; padding:0; }
nav li a { display:block; padding:2px 6px; border-radius:4px; color:var(--ink); text-decoration:none; }
nav li a:hover { background:#eef2ff; }
.dot { display:inline-block; width:8px; height:8px; border-radius:50%; margin-right:6px; }
main { flex:1; min-width:0; }
section.model, section.sources { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:14px 18px; margin-bottom:16px; scroll-margin-top:12px; }
.model-head { display:flex; align-items:center; gap:8px; border-left:4px solid; padding-left:10px;
  margin-left:-18px; }
.model-head h2 { margin:0 6px 0 0; font-size:17px; font-family:ui-monospace, SFMono-Regular, Menlo, monospace; }
.badge { display:inline-block; font-size:12px; padding:1px 8px; border-radius:999px; border:1px solid var(--line);
  background:#f3f4f6; margin:1px 2px 1px 0; white-space:nowrap; }
.badge.test { background:#ecfdf5; border-color:#a7f3d0; }
.badge.test.warn { background:#fffbeb; border-color:#fcd34d; }
.badge.grain { background:#eff6ff; border-color:#bfdbfe; }
.badge.kind, .badge.count { color:var(--muted); }
.description { margin:10px 0; }
table { border-collapse:collapse; }
table.meta th { text-align:left; color:var(--muted); font-weight:500; padding:2px 14px 2px 0; vertical-align:top; }
table.columns { width:100%; margin-top:12px; }
table.columns th { text-align:left; font-size:12px; color:var(--muted); border-bottom:1px solid var(--line);
  padding:4px 8px; }
table.columns td { border-bottom:1px solid var(--line); padding:5px 8px; vertical-align:top; }
table.columns td:first-child { white-space:nowrap; }
code { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px; }
a.ref { color:var(--accent); text-decoration:none; font-family:ui-monospace, monospace; font-size:12.5px; }
a.ref.raw { color:#475569; }
h4 { margin:14px 0 4px; font-size:13px; }
ul.tests { margin:0; padding-left:18px; }
details.sql { margin-top:12px; }
details.sql summary { cursor:pointer; color:var(--accent); font-weight:500; }
pre { background:#0f172a; color:#e2e8f0; padding:12px 14px; border-radius:8px; overflow:auto; font-size:12.5px;
  line-height:1.45; }
pre .k { color:#93c5fd; } pre .f { color:#fcd34d; } pre .s { color:#86efac; } pre .n { color:#fda4af; }
pre .c { color:#94a3b8; font-style:italic; }
.muted { color:var(--muted); }
.hidden { display:none !important; }
"""

_JS = """
(function () {
  var box = document.getElementById('filter');
  box.addEventListener('input', function () {
    var q = box.value.trim().toLowerCase();
    document.querySelectorAll('[data-name]').forEach(function (el) {
      if (el.closest('svg')) return;
      el.classList.toggle('hidden', q !== '' && el.getAttribute('data-name').toLowerCase().indexOf(q) < 0);
    });
  });
  document.querySelectorAll('svg.lineage .node').forEach(function (node) {
    var name = node.getAttribute('data-name');
    function mark(on) {
      node.classList.toggle('hot', on);
      document.querySelectorAll('svg.lineage .edge').forEach(function (e) {
        if (e.getAttribute('data-from') === name || e.getAttribute('data-to') === name) e.classList.toggle('hot', on);
      });
    }
    node.addEventListener('mouseenter', function () { mark(true); });
    node.addEventListener('mouseleave', function () { mark(false); });
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header class="top"><h1>{title}</h1><p>{summary}</p></header>
<div class="lineage-box">
  <h2>Lineage</h2>
  <div class="legend">{legend}<span class="legend-item">dashed: raw table loaded by the pipeline</span></div>
  <div class="scroll">{svg}</div>
</div>
<div class="layout">
<nav><input id="filter" type="search" placeholder="Filter models" aria-label="Filter models">
{nav}
<h3><a href="#raw-sources" style="color:inherit">raw tables</a></h3>
</nav>
<main>
{sections}
{sources}
</main>
</div>
<script>{js}</script>
</body>
</html>
"""
