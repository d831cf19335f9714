#!/usr/bin/env bash
# Set up (if needed) and open JupyterLab on your work folder, my-notebooks/.
# It is seeded from the course's student notebooks (notebooks/): new notebooks
# appear, files you already have are never overwritten, so `git pull` of an
# updated course never conflicts with your answers.
# Extra arguments go to JupyterLab, e.g. `bash scripts/start.sh --port 8890`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/work_folder.py --release notebooks --work my-notebooks
echo "==> starting JupyterLab on my-notebooks/ (Ctrl-C to stop)"
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-root)  # containers and cloud VMs often run as root
exec .venv/bin/jupyter lab --notebook-dir=my-notebooks "${root_flag[@]}" "$@"
