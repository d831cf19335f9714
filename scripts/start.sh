#!/usr/bin/env bash
# Set up (if needed) and open JupyterLab on the course's student notebooks.
# Extra arguments go to JupyterLab, e.g. `bash scripts/start.sh --port 8890`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> starting JupyterLab on notebooks/ (Ctrl-C to stop)"
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-root)  # containers and cloud VMs often run as root
exec .venv/bin/jupyter lab --notebook-dir=notebooks "${root_flag[@]}" "$@"
