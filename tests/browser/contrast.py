#!/usr/bin/env python3
"""WCAG 2.2 contrast ratios of the colour pairs that static/style.css uses, in the light and the dark theme.

Reads the custom properties of `:root` and of `:root` inside `@media (prefers-color-scheme: dark)` from the
stylesheet, computes each pair's ratio with the WCAG 2.x relative-luminance formula (SC 1.4.3 / 1.4.11), and
prints a Markdown table (the one in docs/ACCESSIBILITY.md). Exits 1 when a pair is below its minimum: 4.5:1 for
text, 3:1 for the boundaries of form controls and for the focus indicator. axe-core checks text contrast on the
rendered pages too, but not borders and focus rings; this covers those.

Usage: tests/browser/contrast.py [--css static/style.css] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TEXT, UI, DECORATIVE = 4.5, 3.0, None

# (foreground, background, minimum, where it is used). Names are custom properties without the leading "--".
PAIRS: list[tuple[str, str, float | None, str]] = [
    ("fg", "card", TEXT, "body text, headings, labels, typed input text"),
    ("muted", "card", TEXT, "context line, license details, request id, device dates (phone)"),
    ("accent", "card", TEXT, "secondary button text (Deactivate, Sign out), links"),
    ("on-accent", "accent", TEXT, "primary button text; secondary button text on hover"),
    ("on-accent", "accent-hover", TEXT, "primary button text on hover"),
    ("err", "err-bg", TEXT, "error message"),
    ("border", "card", UI, "text input border"),
    ("err", "card", UI, "border of an input marked aria-invalid"),
    ("accent", "card", UI, "primary button fill, secondary button border"),
    ("accent-hover", "card", UI, "primary button fill on hover"),
    ("focus", "card", UI, "focus ring (:focus-visible, 3px, 2px off the control)"),
    ("focus", "bg", UI, "focus ring where it would cross the page background"),
    ("rule", "card", DECORATIVE, "table and device separators (decorative: rows are told apart by layout)"),
]


def parse_vars(block: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip().lower() for m in re.finditer(r"--([a-z0-9-]+)\s*:\s*([^;}]+)", block)}


def themes(css: str) -> dict[str, dict[str, str]]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    dark_start = re.search(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)\s*\{", css)
    if not dark_start:
        raise SystemExit("no @media (prefers-color-scheme: dark) block in the stylesheet")
    # The dark block: from its opening brace to the matching closing one.
    depth, i = 0, dark_start.end() - 1
    for i in range(dark_start.end() - 1, len(css)):
        depth += {"{": 1, "}": -1}.get(css[i], 0)
        if depth == 0:
            break
    dark_block, rest = css[dark_start.end():i], css[:dark_start.start()] + css[i + 1:]
    light_root = re.search(r":root\s*\{([^}]*)\}", rest)
    dark_root = re.search(r":root\s*\{([^}]*)\}", dark_block)
    if not light_root or not dark_root:
        raise SystemExit("no :root custom properties found for both themes")
    light = parse_vars(light_root.group(1))
    return {"light": light, "dark": {**light, **parse_vars(dark_root.group(1))}}


def rgb(value: str) -> tuple[float, float, float]:
    v = value.strip().lower()
    if v in ("#fff", "white"):
        v = "#ffffff"
    m = re.fullmatch(r"#([0-9a-f]{3}|[0-9a-f]{6})", v)
    if not m:
        raise SystemExit(f"not an opaque hex colour: {value!r} (contrast.py only handles #rgb / #rrggbb)")
    h = m.group(1)
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return tuple(int(h[j:j + 2], 16) / 255 for j in (0, 2, 4))  # type: ignore[return-value]


def luminance(c: tuple[float, float, float]) -> float:
    # WCAG 2.x relative luminance (sRGB); 0.04045 is the sRGB standard's threshold (WCAG's 0.03928 gives the
    # same result for 8-bit values).
    r, g, b = (x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a: str, b: str) -> float:
    la, lb = sorted((luminance(rgb(a)), luminance(rgb(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--css", default=os.path.join(ROOT, "static", "style.css"))
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the Markdown table")
    args = parser.parse_args()
    with open(args.css, encoding="utf-8") as f:
        t = themes(f.read())
    rows, failures = [], []
    for fg, bg, minimum, where in PAIRS:
        row = {"fg": fg, "bg": bg, "minimum": minimum, "where": where}
        for theme, colours in t.items():
            for name in (fg, bg):
                if name not in colours:
                    raise SystemExit(f"--{name} is not defined for the {theme} theme")
            r = ratio(colours[fg], colours[bg])
            row[theme] = {"fg": colours[fg], "bg": colours[bg], "ratio": round(r, 2)}
            # Ratios are compared unrounded: 4.499 is a failure even though it prints as 4.5.
            if minimum is not None and r < minimum:
                failures.append(f"{theme}: --{fg} {colours[fg]} on --{bg} {colours[bg]} = {r:.2f}:1 < {minimum}:1 ({where})")
        rows.append(row)
    if args.json:
        print(json.dumps({"ok": not failures, "pairs": rows, "failures": failures}))
    else:
        print("| foreground / background | light | dark | needs | where |")
        print("|---|---|---|---|---|")
        for row in rows:
            cells = [f"`{row[th]['fg']}` / `{row[th]['bg']}` **{row[th]['ratio']:.2f}:1**" for th in ("light", "dark")]
            need = f"{row['minimum']}:1" if row["minimum"] else "none (decorative)"
            print(f"| `--{row['fg']}` on `--{row['bg']}` | {cells[0]} | {cells[1]} | {need} | {row['where']} |")
        for f_ in failures:
            print(f"FAIL {f_}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
