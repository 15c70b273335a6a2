#!/usr/bin/env bash
# Screenshots of the built docs with headless Chromium (Debian: apt-get install -y chromium):
# the home page, a rule page and the formulas page, at a phone width (390 px) and a desktop
# width (1280 px), to look at before a release (issue 17: maths typeset, nothing running off
# a phone's screen, navigation present). Also checks that KaTeX rendered every equation of
# the formulas page (no .katex-error, no untypeset .arithmatex left).
# Usage: scripts/docs_screenshots.sh [OUT_DIR]   (default /tmp/archcheck-shots)
set -euo pipefail
out=${1:-/tmp/archcheck-shots}
site=$(mktemp -d)
mkdir -p "$out"
mkdocs build --strict -q -d "$site"
port=${PORT:-8765}
python -m http.server "$port" --bind 127.0.0.1 --directory "$site" >/dev/null 2>&1 &
server=$!
trap 'kill "$server"; rm -rf "$site"' EXIT
sleep 1
shoot() {  # name url width height
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --hide-scrollbars --virtual-time-budget=5000 \
    --window-size="$3,$4" --screenshot="$out/$1.png" "$2" 2>/dev/null
}
base="http://127.0.0.1:$port"
for w in 390 1280; do
  shoot "home-$w" "$base/" "$w" 1600
  shoot "rule-ARC101-$w" "$base/rules/ARC101/" "$w" 1600
  shoot "formulas-$w" "$base/formulas/" "$w" 2400
done
dom=$(chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-sync \
  --user-data-dir="$(mktemp -d)" --virtual-time-budget=5000 --dump-dom "$base/formulas/" \
  2>/dev/null)
count() { grep -o "$1" <<<"$dom" | wc -l || true; }
maths=$(count 'class="arithmatex"')
rendered=$(count 'class="katex-display"')
errors=$(count 'katex-error')
echo "formulas page: $maths display blocks, $rendered typeset by KaTeX, $errors errors"
echo "screenshots in $out"
[ "$errors" -eq 0 ] && [ "$rendered" -eq "$maths" ]
