#!/usr/bin/env bash
# The Debian packages the book uses (tools/apt_install.sh names them), on a GitHub-hosted Ubuntu
# runner, where the user is not root (sudo) and a package may be missing or be a snap stub.
#   dataset-fashion-mnist  Ubuntu universe has it; where absent, mmtutorial.data.fashion_mnist
#                          downloads the same files over https, checked by SHA-256
#   espeak-ng              Ubuntu has it; where absent, the PyPI wheel espeakng-loader
#                          (requirements.txt) provides eSpeak NG, and the package uses it first
#   chromium               for the page tests: Ubuntu's `chromium` is a snap stub, so use the
#                          runner image's Chromium, else Playwright's build, linked as `chromium`
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
sudo apt-get update -q >/dev/null
for pkg in dataset-fashion-mnist espeak-ng; do
  if apt-cache show "$pkg" >/dev/null 2>&1; then
    sudo apt-get install -y -q --no-install-recommends "$pkg" >/dev/null
    echo "installed $pkg"
  else
    echo "::warning::$pkg is not in this runner's Ubuntu; the book falls back (see .github/scripts/system-packages.sh)"
  fi
done
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium || command -v chromium-browser)"
else
  # Playwright (requirements.txt) fetches its own Chromium; tests/test_site.py looks for `chromium`.
  python -m pip install -q "playwright>=1.40"
  python -m playwright install --with-deps chromium
  exe=$(python -c "from playwright.sync_api import sync_playwright as p; s = p().start(); print(s.chromium.executable_path); s.stop()")
  sudo ln -sf "$exe" /usr/local/bin/chromium
  echo "chromium: Playwright's build at $exe"
fi
