#!/usr/bin/env bash
# Build (or reuse) the test-bed binaries: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok, kwokctl, helm, plus the real
# Istio and Gateway API CRDs. Everything comes from the Go module proxy and is
# cached under one versioned directory, so only the first run on a machine
# builds. Prints the cache directory on the last line of stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${PREVIEWBOT_TESTBED_CACHE:-$HOME/.cache/previewbot-testbed/$TESTBED_ID}
bin=$cache/bin
crds=$cache/crds
mkdir -p "$bin" "$crds"
started=$(date +%s)
total=5

step() { # step N "what"
  printf '[testbed %s/%s, %ss] %s\n' "$1" "$total" "$(($(date +%s) - started))" "$2" >&2
}

have() { # have file... : true when every file exists
  local f
  for f in "$@"; do [ -e "$f" ] || return 1; done
}

export GOFLAGS="-mod=mod -trimpath -buildvcs=false"
export CGO_ENABLED=0

build_control_plane() {
  # Build in a copy of the wrapper module so the checkout stays clean.
  local src=$cache/src
  rm -rf "$src" && mkdir -p "$src"
  cp "$here/gobuild/go.mod" "$here/gobuild/go.sum" "$here/gobuild/tools.go" "$src/" 2>/dev/null \
    || cp "$here/gobuild/go.mod" "$here/gobuild/tools.go" "$src/"
  local v=$KUBERNETES_VERSION minor
  minor=${v#v1.}; minor=${minor%%.*}
  local ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local out=$cache/tmp-bin
  rm -rf "$out" && mkdir -p "$out"
  (cd "$src" && go build -ldflags "-s -w$ldflags" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    go.etcd.io/etcd/server/v3)
  mv "$out/server" "$out/etcd" # go names the binary after the package dir
  mv "$out"/* "$bin/"
  rm -rf "$out"
}

go_install() { # go_install module/cmd@version
  GOBIN=$bin go install -ldflags "-s -w" "$1"
}

step 1 "etcd $ETCD_VERSION + kube-apiserver/controller-manager/scheduler $KUBERNETES_VERSION"
if have "$bin/etcd" "$bin/kube-apiserver" "$bin/kube-controller-manager" "$bin/kube-scheduler"; then
  echo "  cached" >&2
else
  echo "  building from the Go module proxy (cold: about 10-15 min on 2 cores)" >&2
  build_control_plane
fi

step 2 "kwok + kwokctl $KWOK_VERSION"
if have "$bin/kwok" "$bin/kwokctl"; then echo "  cached" >&2; else
  go_install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  go_install "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
fi

# kwok's own stage definitions (node init/heartbeat, fast pod lifecycle) from the same
# module: the test bed adds its own stages (slow readiness, crash loops) beside them.
stages=$cache/kwok-stages
if have "$stages/node-initialize.yaml" "$stages/node-heartbeat-with-lease.yaml" \
    "$stages/pod-ready.yaml" "$stages/pod-complete.yaml" "$stages/pod-delete.yaml"; then :; else
  kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$stages.tmp"
  cp "$kwok_dir/kustomize/stage/node/fast/node-initialize.yaml" \
    "$kwok_dir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
    "$kwok_dir"/kustomize/stage/pod/fast/pod-*.yaml "$stages.tmp/"
  chmod u+w "$stages.tmp"/*
  rm -rf "$stages" && mv "$stages.tmp" "$stages"
fi

step 3 "helm $HELM_VERSION"
if have "$bin/helm"; then echo "  cached" >&2; else
  GOBIN=$bin go install -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi

step 4 "Istio $ISTIO_API_VERSION and Gateway API $GATEWAY_API_VERSION CRDs"
if have "$crds/istio.yaml" "$crds/gateway-api.yaml"; then echo "  cached" >&2; else
  istio_dir=$(go mod download -json "istio.io/api@$ISTIO_API_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  gw_dir=$(go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  cp "$istio_dir/kubernetes/customresourcedefinitions.gen.yaml" "$crds/istio.yaml.tmp"
  : > "$crds/gateway-api.yaml.tmp"
  for f in "$gw_dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
    case $f in *_vap_*) continue ;; esac # a ValidatingAdmissionPolicy, not a CRD
    { echo "---"; cat "$f"; } >> "$crds/gateway-api.yaml.tmp"
  done
  chmod u+w "$crds"/*.tmp
  mv "$crds/istio.yaml.tmp" "$crds/istio.yaml"
  mv "$crds/gateway-api.yaml.tmp" "$crds/gateway-api.yaml"
fi

step 5 "done"
"$bin/kube-apiserver" --version >&2
"$bin/helm" version --short >&2
echo "$cache"
