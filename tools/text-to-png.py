#!/usr/bin/env python3
"""Renders a text file (a terminal's output) to a PNG, as a terminal shows it.

    python3 tools/text-to-png.py IN.txt OUT.png [--title TEXT]

Needs Pillow (pip install pillow) and DejaVu Sans Mono. Used for
docs/images/vgpu-proxy-status.png, the output of `vgpu-proxy status`.
"""
import argparse

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BG, FG, DIM = (30, 30, 30), (220, 220, 220), (140, 200, 140)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("text")
    p.add_argument("png")
    p.add_argument("--title", default="", help="a prompt line drawn above the text")
    p.add_argument("--size", type=int, default=14)
    args = p.parse_args()
    lines = open(args.text, encoding="utf-8").read().rstrip("\n").split("\n")
    font = ImageFont.truetype(FONT, args.size)
    cell_w = font.getlength("M")
    cell_h = int(args.size * 1.35)
    pad = 16
    rows = ([args.title] if args.title else []) + lines
    width = int(max(len(r) for r in rows) * cell_w) + 2 * pad
    height = len(rows) * cell_h + 2 * pad
    img = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(img)
    for i, row in enumerate(rows):
        colour = DIM if args.title and i == 0 else FG
        draw.text((pad, pad + i * cell_h), row, font=font, fill=colour)
    img.save(args.png, optimize=True)


if __name__ == "__main__":
    main()
