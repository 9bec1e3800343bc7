#!/usr/bin/env python3
"""Draws Docs/memory.svg from `cllm bench memory --json FILE`: per configuration, predicted and measured
peak resident memory (VmHWM) and virtual size (VmSize), as grouped bars. Standard library only.

    .build/release/cllm bench memory --json /tmp/memory.json
    Scripts/memory-chart.py /tmp/memory.json Docs/memory.svg
"""
import json
import sys

rows = json.load(open(sys.argv[1]))
out = sys.argv[2] if len(sys.argv) > 2 else "Docs/memory.svg"
series = [
    ("predictedPeakResidentBytes", "predicted RSS", "#4a7fb0"),
    ("measuredPeakResidentBytes", "measured VmHWM", "#9cc3e6"),
    ("predictedVirtualBytes", "predicted VmSize", "#c0652d"),
    ("measuredVirtualBytes", "measured VmSize", "#f0b48a"),
]
mib = lambda r, k: int(r[k]) / 1048576
top = max(mib(r, k) for r in rows for k, _, _ in series)
scale = 300 / top
bar, gap, group = 22, 6, 4 * 22 + 40
width = 90 + len(rows) * group + 20
height = 470
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
       f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">cllm memory: predicted vs measured (MiB)</text>']
base = 340
for v in range(0, int(top) + 1, 250):
    y = base - v * scale
    svg.append(f'<line x1="80" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
    svg.append(f'<text x="74" y="{y + 4:.1f}" text-anchor="end">{v}</text>')
for i, r in enumerate(rows):
    x0 = 90 + i * group
    for j, (k, _, color) in enumerate(series):
        h = mib(r, k) * scale
        x = x0 + j * bar
        svg.append(f'<rect x="{x}" y="{base - h:.1f}" width="{bar - 2}" height="{h:.1f}" fill="{color}"/>')
        svg.append(f'<text x="{x + bar / 2 - 1}" y="{base - h - 3:.1f}" text-anchor="middle" font-size="8">{mib(r, k):.0f}</text>')
    words, line, lines = r["configuration"].split(), "", []
    for w in words:
        if len(line) + len(w) > 18:
            lines.append(line); line = w
        else:
            line = (line + " " + w).strip()
    lines.append(line)
    for n, text in enumerate(lines):
        svg.append(f'<text x="{x0 + 2 * bar}" y="{base + 16 + 12 * n}" text-anchor="middle">{text}</text>')
for j, (_, label, color) in enumerate(series):
    x = 90 + j * 150
    svg.append(f'<rect x="{x}" y="{height - 28}" width="12" height="12" fill="{color}"/>')
    svg.append(f'<text x="{x + 16}" y="{height - 18}">{label}</text>')
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")
print(f"wrote {out}")
