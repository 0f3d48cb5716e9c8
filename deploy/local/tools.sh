#!/usr/bin/env bash
# Tools the tests use besides Python packages, fetched once into .local/tools/bin:
#   promtool   (checks deploy/prometheus) from Debian's prometheus package, unpacked only;
#   kustomize  (renders deploy/k8s) built from the Go module proxy, unless kubectl is here;
#   kcat       optional, a non-Python Kafka client whose partitioner one test uses
#              (installed with apt-get when root; that test is skipped without it);
#   chromium   Debian's chromium and chromium-driver, for the console's browser tests
#              (installed with apt-get when root; without them those tests fail).
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=.local/tools/bin
mkdir -p "$tools"
KUSTOMIZE_VERSION=v5.5.0

log() { echo "tools: $*" >&2; }

if ! command -v promtool >/dev/null && [[ ! -x $tools/promtool ]]; then
  log "fetching promtool from Debian's prometheus package (once)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
    if [[ $(id -u) == 0 ]]; then apt-get update -qq >/dev/null; fi
    (cd "$work" && apt-get download prometheus >/dev/null)
  fi
  dpkg-deb -x "$work"/prometheus_*.deb "$work/unpacked"
  cp "$work/unpacked/usr/bin/promtool" "$tools/promtool"
fi

if ! command -v kubectl >/dev/null && [[ ! -x $tools/kustomize ]]; then
  log "building kustomize $KUSTOMIZE_VERSION from the Go module proxy (once, about a minute)"
  GOBIN="$PWD/$tools" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

if ! command -v kcat >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing kcat"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq kcat; } >/dev/null 2>&1 ||
      log "could not install kcat; its test will be skipped"
  else
    log "kcat not installed (needs root and apt-get); its test will be skipped"
  fi
fi

if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing chromium and chromium-driver (once, a few minutes)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq chromium chromium-driver; } >/dev/null
  else
    log "chromium and chromium-driver are missing: the console's browser tests will fail;"
    log "install them (apt-get install chromium chromium-driver) and run make test again"
  fi
fi
