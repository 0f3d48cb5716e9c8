#!/usr/bin/env bash
# Optional test tools from Debian's packages: kcat, a non-Python Kafka client whose own
# default partitioner the integration tests use. Best effort: without root or apt the
# kcat test is skipped, and says so.
set -uo pipefail
if command -v kcat >/dev/null; then exit 0; fi
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "tools: kcat not installed (needs root and apt-get); its test will be skipped" >&2
  exit 0
fi
echo "tools: installing kcat" >&2
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -qq && apt-get install -y -qq kcat; } >/dev/null 2>&1 ||
  echo "tools: could not install kcat; its test will be skipped" >&2
exit 0
