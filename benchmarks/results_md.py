"""One section of benchmarks/RESULTS.md, replaced in place between its markers (each benchmark
script owns one section)."""

from __future__ import annotations

from pathlib import Path

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def replace_section(start: str, end: str, body: str, path: Path = RESULTS_MD) -> None:
    """Replace the text between ``start`` and ``end`` (markers kept), or append the section;
    written to a temporary file first, then renamed."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{start}\n{body}\n{end}"
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
