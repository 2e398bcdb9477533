"""The lineage graph as an inline SVG: raw tables on the left, then one column per topological depth.

Within a column, nodes are ordered by the average position of what they read (a few barycenter sweeps), which
keeps edge crossings down on graphs of this size. Every node links to the model's section of the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from warehouse.models import Project

NODE_HEIGHT = 30
ROW_GAP = 14
COLUMN_GAP = 90
MARGIN = 20
CHAR_WIDTH = 7.0  # at 12px in the catalog's sans-serif font, generous
SCHEMA_COLORS = {
    "raw": ("#eceff3", "#8a94a6"),
    "staging": ("#e3f0ff", "#3b82f6"),
    "marts": ("#e3f7ec", "#16a34a"),
    "reports": ("#f1e8ff", "#8b5cf6"),
}
OTHER_COLORS = [("#fff4e0", "#f59e0b"), ("#ffe8ec", "#e11d48"), ("#e0f7f7", "#0d9488")]


@dataclass
class Node:
    name: str
    schema: str
    depth: int
    is_source: bool
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0


@dataclass
class Layout:
    nodes: dict[str, Node]
    edges: list[tuple[str, str]]  # (upstream, downstream)
    width: float
    height: float


def layout(project: Project) -> Layout:
    nodes: dict[str, Node] = {}
    for source in project.raw_sources:
        nodes[source] = Node(source, "raw", 0, True)
    for name, model in project.models.items():
        nodes[name] = Node(name, model.schema, project.depth[name], False)
    edges = [(up, name) for name, m in project.models.items() for up in (*m.sources, *m.depends_on)]
    columns: dict[int, list[str]] = {}
    for node in nodes.values():
        columns.setdefault(node.depth, []).append(node.name)
    for names in columns.values():
        names.sort(key=lambda n: (nodes[n].schema, n))
    _order_columns(columns, edges)
    x = float(MARGIN)
    tallest = max((len(v) for v in columns.values()), default=0)
    height = 2 * MARGIN + tallest * NODE_HEIGHT + max(tallest - 1, 0) * ROW_GAP
    for depth in sorted(columns):
        names = columns[depth]
        width = max(len(n) for n in names) * CHAR_WIDTH + 28
        column_height = len(names) * NODE_HEIGHT + (len(names) - 1) * ROW_GAP
        top = (height - column_height) / 2
        for i, name in enumerate(names):
            node = nodes[name]
            node.x, node.y, node.width = x, top + i * (NODE_HEIGHT + ROW_GAP), width
        x += width + COLUMN_GAP
    return Layout(nodes, edges, max(x - COLUMN_GAP + MARGIN, 2 * MARGIN), height)


def _order_columns(columns: dict[int, list[str]], edges: list[tuple[str, str]]) -> None:
    upstream: dict[str, list[str]] = {}
    downstream: dict[str, list[str]] = {}
    for up, down in edges:
        upstream.setdefault(down, []).append(up)
        downstream.setdefault(up, []).append(down)
    depths = sorted(columns)
    for _ in range(4):
        for neighbours, sweep in ((upstream, depths[1:]), (downstream, list(reversed(depths[:-1])))):
            position = {n: i for names in columns.values() for i, n in enumerate(names)}
            for depth in sweep:
                names = columns[depth]

                def key(
                    name: str, neighbours: dict[str, list[str]] = neighbours, position: dict[str, int] = position
                ) -> tuple[float, str]:
                    around = [position[n] for n in neighbours.get(name, []) if n in position]
                    mean = sum(around) / len(around) if around else position[name]
                    return (mean, name)

                names.sort(key=key)


def colors(schema: str) -> tuple[str, str]:
    if schema in SCHEMA_COLORS:
        return SCHEMA_COLORS[schema]
    return OTHER_COLORS[sum(schema.encode()) % len(OTHER_COLORS)]


def render_svg(graph: Layout) -> str:
    """The graph as a standalone ``<svg>`` element; node ids are ``node-<name>``, edges carry their ends."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{graph.width:.0f}" '
        f'height="{graph.height:.0f}" viewBox="0 0 {graph.width:.0f} {graph.height:.0f}" role="img" '
        f'aria-label="Lineage of {sum(1 for n in graph.nodes.values() if not n.is_source)} models">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#9aa4b2"/></marker></defs>',
    ]
    for up, down in graph.edges:
        a, b = graph.nodes[up], graph.nodes[down]
        x1, y1 = a.x + a.width, a.y + NODE_HEIGHT / 2
        x2, y2 = b.x - 2, b.y + NODE_HEIGHT / 2
        bend = max((x2 - x1) / 2, 30)
        parts.append(
            f'<path class="edge" data-from="{escape(up)}" data-to="{escape(down)}" '
            f'd="M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f}, {x2 - bend:.1f} {y2:.1f}, {x2:.1f} {y2:.1f}" '
            f'fill="none" stroke="#9aa4b2" stroke-width="1.4" marker-end="url(#arrow)"/>'
        )
    for node in graph.nodes.values():
        fill, stroke = colors(node.schema)
        label = escape(node.name)
        dashed = ' stroke-dasharray="4 3"' if node.is_source else ""
        rect = (
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.width:.1f}" height="{NODE_HEIGHT}" rx="7" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dashed}/>'
            f'<text x="{node.x + node.width / 2:.1f}" y="{node.y + NODE_HEIGHT / 2 + 4:.1f}" text-anchor="middle" '
            f'font-size="12" font-family="ui-sans-serif, system-ui, sans-serif" fill="#1f2937">{label}</text>'
        )
        title = f"<title>{label}{' (raw table)' if node.is_source else ''}</title>"
        if node.is_source:
            parts.append(f'<g class="node source" id="node-{label}" data-name="{label}">{title}{rect}</g>')
        else:
            parts.append(
                f'<a href="#model-{label}"><g class="node" id="node-{label}" data-name="{label}">{title}{rect}</g></a>'
            )
    parts.append("</svg>")
    return "\n".join(parts)
