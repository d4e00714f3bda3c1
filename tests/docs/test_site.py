"""The documentation site's sources hold nothing that only makes sense on one machine."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:tmp|work|home|root|Users|private|mnt)/[^\s\"'`)|]*")


def machine_paths(text: str) -> list[str]:
    return MACHINE_PATH.findall(text)


def test_a_machine_path_is_recognised_and_a_url_or_relative_path_is_not():
    assert machine_paths("see /work/main/runs/x and (/tmp/abc).") == ["/work/main/runs/x", "/tmp/abc"]
    assert machine_paths("runs/tmp/x, https://example.org/home/page, ~/home/x, ./work/y") == []


def test_no_page_of_the_site_holds_a_machine_path():
    sources = [ROOT / "mkdocs.yml", *sorted((ROOT / "docs").rglob("*.md"))]
    found = {str(p.relative_to(ROOT)): machine_paths(p.read_text(encoding="utf-8")) for p in sources}
    assert {p: paths for p, paths in found.items() if paths} == {}
