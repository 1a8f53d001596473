"""The README's commands are the ones CI runs, and the pictures it shows exist."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    test_command = bash_blocks(readme)[1]
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[-2:] == ["python -m pip install torch==2.13.0", test_command]
    assert "pytest" in test_command and ".[test]" in test_command


def test_readme_pictures_exist_and_the_preview_is_small():
    readme = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert "docs/img/preview.png" in pictures
    for picture in pictures:
        assert (ROOT / picture).is_file(), picture
    assert (ROOT / "docs/img/preview.png").stat().st_size < 500_000
