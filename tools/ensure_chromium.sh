#!/usr/bin/env bash
# The JupyterLab end-to-end test drives a system Chromium (a browser downloaded by a test tool cannot be
# installed everywhere). Install Debian's package when we can; otherwise the browser test skips and says why.
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the JupyterLab browser test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "Could not install chromium; the browser test will be skipped."
else
  echo "No chromium found and no root apt-get: the JupyterLab browser test will be skipped."
fi
exit 0
