"""One self-contained HTML page: inline CSS, figures embedded as base64 PNG, nothing fetched from the network."""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from surgsim.fileio import atomic_output

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; background: #fff; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.6em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #c62828; font-weight: 600; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #666; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
"""


@dataclass
class Section:
    title: str
    parts: list[str] = field(default_factory=list)  # HTML fragments, already escaped


@dataclass
class Page:
    """A report page. ``figures`` keeps every figure's PNG by name, for ``--png``."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)

    def section(self, title: str) -> Section:
        section = Section(title)
        self.sections.append(section)
        return section

    def html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        if self.subtitle:
            body.append(f'<p class="meta">{html.escape(self.subtitle)}</p>')
        for section in self.sections:
            body.append(f"<h2>{html.escape(section.title)}</h2>")
            body.extend(section.parts)
        return (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(self.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + "\n</body>\n</html>\n"
        )

    def write(self, path: str | os.PathLike) -> Path:
        with atomic_output(path) as tmp:
            tmp.write_text(self.html(), encoding="utf-8")
        return Path(path)

    def write_pngs(self, folder: str | os.PathLike) -> list[Path]:
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            from surgsim.errors import InputError

            raise InputError(folder, "--png names a folder for the figures, and this is a file.")
        written = []
        for name, png in self.figures.items():
            with atomic_output(folder / f"{name}.png") as tmp:
                tmp.write_bytes(png)
            written.append(folder / f"{name}.png")
        return written


def figure_html(page: Page, name: str, png: bytes, caption: str) -> str:
    """Register the figure under ``name`` and return its <figure> with the PNG inline."""
    page.figures[name] = png
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure id="{html.escape(name)}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{encoded}"><figcaption>{html.escape(caption)}</figcaption></figure>')


def image_html(png: bytes, caption: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def table_html(header: list[str], rows: list[list[object]], classes: dict[int, callable] | None = None) -> str:
    """A table; cells are escaped. ``classes`` maps a column to a function giving a cell's CSS class."""
    classes = classes or {}
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for column, cell in enumerate(row):
            css = classes[column](cell) if column in classes else ""
            attribute = f' class="{css}"' if css else ""
            cells.append(f"<td{attribute}>{html.escape(_text(cell))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def paragraph(text: str, css: str = "") -> str:
    attribute = f' class="{css}"' if css else ""
    return f"<p{attribute}>{html.escape(text)}</p>"


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def verdict_class(value: object) -> str:
    return {"pass": "pass", "fail": "fail"}.get(str(value), "")
