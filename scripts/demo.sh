#!/usr/bin/env bash
# Placeholder until the he round trip lands.
set -euo pipefail
"$1" help
