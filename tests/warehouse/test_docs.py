"""The HTML catalog: one self-contained page naming every model, with a lineage SVG holding a node per model."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from tests.warehouse.raw_data import FIXTURE_MODELS
from warehouse.docs import highlight_sql, render_catalog, write_catalog
from warehouse.lineage import NODE_HEIGHT, layout
from warehouse.models import load_project

VOID = {"meta", "link", "br", "hr", "img", "input", "path", "rect"}


class PageParser(HTMLParser):
    """Collects ids, SVG nodes and edges, and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: set[str] = set()
        self.svg_nodes: list[str] = []
        self.edges: list[tuple[str, str]] = []
        self.svgs = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "svg":
            self.svgs += 1
        if tag == "g" and "node" in (values.get("class") or "").split():
            self.svg_nodes.append(values.get("data-name") or "")
        if tag == "path" and values.get("class") == "edge":
            self.edges.append((values.get("data-from") or "", values.get("data-to") or ""))
        for name in ("src", "href"):
            value = values.get(name) or ""
            if value.startswith(("http:", "https:", "//")):
                self.external.append(value)
        if tag == "link":
            self.external.append(str(values))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()


def test_catalog_names_every_model_and_draws_the_lineage() -> None:
    project = load_project(FIXTURE_MODELS)
    page = render_catalog(project)
    parser = PageParser()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    assert parser.svgs == 1
    assert sorted(parser.svg_nodes) == sorted([*project.order, *project.raw_sources])
    expected_edges = {(up, m.name) for m in project.models.values() for up in (*m.depends_on, *m.sources)}
    assert set(parser.edges) == expected_edges and len(parser.edges) == len(expected_edges)
    for name in project.order:
        assert f"model-{name}" in parser.ids
        assert f'href="#model-{name}"' in page  # the nav and the graph link to it
    assert {f"source-{s}" for s in project.raw_sources} <= parser.ids
    assert parser.external == []  # viewable without a network
    dim = project.models["marts.dim_contacts"]
    assert dim.description in page
    assert "accepted_values: new, regular, loyal" in page
    assert "relationships &rarr;" in page
    assert "expression: <code>subtotal &gt;= 0</code>" in page
    assert 'count</span>(*) <span class="k">filter</span>' in page  # the SQL, highlighted


def test_sql_highlighting_keeps_the_text() -> None:
    sql = "select 'a<b' as x, -- note\n  count(*) /* c */ from raw.t where n > 1"
    html = highlight_sql(sql)
    text = HTMLParser()
    chunks: list[str] = []
    text.handle_data = chunks.append  # type: ignore[method-assign]
    text.feed(html)
    text.close()
    assert "".join(chunks) == sql
    assert '<span class="s">&#x27;a&lt;b&#x27;</span>' in html
    assert '<span class="c">, -- note\n  </span>' not in html  # the comma is a token, not a comment
    assert '<span class="c"> -- note\n  </span>' in html


def test_lineage_layout_flows_left_to_right_without_overlaps() -> None:
    project = load_project(FIXTURE_MODELS)
    graph = layout(project)
    for up, down in graph.edges:
        assert graph.nodes[up].x + graph.nodes[up].width < graph.nodes[down].x
    boxes = list(graph.nodes.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart_x = a.x + a.width <= b.x or b.x + b.width <= a.x
            apart_y = a.y + NODE_HEIGHT <= b.y or b.y + NODE_HEIGHT <= a.y
            assert apart_x or apart_y, (a.name, b.name)
    assert all(n.x + n.width <= graph.width and n.y + NODE_HEIGHT <= graph.height for n in boxes)


def test_write_catalog(tmp_path: Path) -> None:
    path = write_catalog(load_project(FIXTURE_MODELS), tmp_path / "site")
    assert path == tmp_path / "site" / "index.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.html"]
