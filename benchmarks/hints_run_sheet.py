"""docs/img/hints_run.png: grey | automatic | --hint x3 (points marked) | true colour, kodim14.

    python benchmarks/hints_run_sheet.py        # writes docs/img/hints_run.png through `vidcolor run --hint`
"""
import subprocess, sys, tempfile
from pathlib import Path
import cv2, numpy as np
from PIL import Image
from vidcolor.hints import parse_hint
from vidcolor.sheet import compose_sheet, save_png

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT.parent / "shared" / "data" / "photos" / "kodak24" / "kodim14.jpg"
HINTS = ["165,210,#e0bb2e", "160,137,#cd2f2c", "60,40,#9eac95"]  # raft, a life jacket, the water
tmp = Path(tempfile.mkdtemp())
grey = tmp / "raft.png"
Image.open(SRC).convert("L").save(grey)
run = [sys.executable, "-m", "vidcolor", "run", str(grey), "-q", "--overwrite"]
subprocess.run([*run, "-o", str(tmp / "auto.png")], check=True)
subprocess.run([*run, "-o", str(tmp / "hinted.png"), *[a for h in HINTS for a in ("--hint", h)]], check=True)
rgb = lambda p: np.asarray(Image.open(p).convert("RGB")).copy()
marked = rgb(tmp / "hinted.png")
for text in HINTS:
    h = parse_hint(text)
    cv2.circle(marked, (h.x, h.y), 7, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.circle(marked, (h.x, h.y), 7, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.circle(marked, (h.x, h.y), 4, h.rgb, -1, cv2.LINE_AA)
sheet = compose_sheet([("grey", rgb(grey)), ("automatic", rgb(tmp / "auto.png")), ("--hint x3 (raft, jacket, water)", marked),
                       ("true colour", rgb(SRC))], tile_height=288)
print(save_png(ROOT / "docs" / "img" / "hints_run.png", sheet))
