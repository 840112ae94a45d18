#!/bin/sh
# Machine prerequisites for the browser tests (Debian): Chromium (playwright's own download does not
# work here), a CJK font so Chinese renders in screenshots, espeak-ng + sox for the caller's voice.
set -eu
missing=""
[ -x /usr/bin/chromium ] || [ -x /usr/bin/chromium-headless-shell ] || missing="$missing chromium"
fc-list 2>/dev/null | grep -qiE 'wqy|noto sans cjk|noto serif cjk' || missing="$missing fonts-wqy-microhei"
command -v espeak-ng >/dev/null || missing="$missing espeak-ng"
command -v sox >/dev/null || missing="$missing sox"
if [ -n "$missing" ]; then
  echo "installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
