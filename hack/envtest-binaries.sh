#!/usr/bin/env bash
# Builds the control-plane binaries that controller-runtime's envtest needs
# (kube-apiserver and etcd) from source fetched through the Go module proxy.
# Nothing is downloaded from GitHub, dl.k8s.io or any other release site.
#
# Usage:
#   KUBEBUILDER_ASSETS="$(hack/envtest-binaries.sh)" go test ./...
#
# The assets directory is printed as the last line of stdout. Progress
# messages go to stderr. When both binaries are already there and report the
# expected versions, the script just prints the directory and exits.
#
# Environment:
#   K8S_VERSION             Kubernetes version (default 1.37.2)
#   ETCD_VERSION            etcd version (default 3.6.16)
#   KUBEBUILDER_ASSETS_DIR  output directory (default: the directory
#                           setup-envtest uses, so the two can share it)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
K8S_VERSION="${K8S_VERSION#v}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
ETCD_VERSION="${ETCD_VERSION#v}"

GOOS_="$(go env GOOS)"
GOARCH_="$(go env GOARCH)"
ASSETS_DIR="${KUBEBUILDER_ASSETS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest/k8s/${K8S_VERSION}-${GOOS_}-${GOARCH_}}"

log() { printf '%s\n' "$*" >&2; }

apiserver_ok() {
  [[ -x "${ASSETS_DIR}/kube-apiserver" ]] &&
    [[ "$("${ASSETS_DIR}/kube-apiserver" --version 2>/dev/null)" == "Kubernetes v${K8S_VERSION}" ]]
}

etcd_ok() {
  [[ -x "${ASSETS_DIR}/etcd" ]] &&
    [[ "$("${ASSETS_DIR}/etcd" --version 2>/dev/null)" == "etcd Version: ${ETCD_VERSION}"$'\n'* ]]
}

# Fast path: nothing to do.
if apiserver_ok && etcd_ok; then
  printf '%s\n' "${ASSETS_DIR}"
  exit 0
fi

mkdir -p "${ASSETS_DIR}"

# Serialise concurrent invocations (e.g. parallel make targets).
if command -v flock >/dev/null 2>&1; then
  exec 9>"${ASSETS_DIR}/.build.lock"
  if ! flock -n 9; then
    log "Waiting for another envtest-binaries.sh to finish building in ${ASSETS_DIR}..."
    flock 9
  fi
else
  log "warning: flock not found; not locking ${ASSETS_DIR}"
fi

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/envtest-binaries.XXXXXX")"
cleanup() {
  rm -rf "${WORK_DIR}"
  rm -f "${ASSETS_DIR}"/.*.tmp."$$"
}
trap cleanup EXIT

# Isolate the throwaway modules from the caller's Go settings (workspaces,
# -mod=vendor, cross-compilation of the caller's own code, ...). The module
# and build caches stay in their default locations, so rebuilds are fast.
export GOWORK=off
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
export GOOS="${GOOS_}" GOARCH="${GOARCH_}"

# install_binary NAME SRC: atomically move SRC to ASSETS_DIR/NAME.
install_binary() {
  local tmp="${ASSETS_DIR}/.$1.tmp.$$"
  cp "$2" "${tmp}"
  chmod 0755 "${tmp}"
  mv -f "${tmp}" "${ASSETS_DIR}/$1"
}

build_kube_apiserver() {
  local mod_dir="${WORK_DIR}/kube-apiserver"
  local k8s_mod="k8s.io/kubernetes"
  local staging_version="v0.${K8S_VERSION#1.}" # 1.37.2 -> v0.37.2
  mkdir -p "${mod_dir}"
  log "Building kube-apiserver v${K8S_VERSION} from the Go module proxy (first time only; 10-20 minutes on a 2-core machine)..."

  # k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with
  # ./staging/src/... directories that are not part of the module zip.
  # Replace each of them with its published v0.X.Y version instead.
  local info gomod build_date
  info="$(cd "${mod_dir}" && go mod download -json "${k8s_mod}@v${K8S_VERSION}")"
  gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"${info}")"
  [[ -f "${gomod}" ]] || { log "error: cannot find go.mod of ${k8s_mod}@v${K8S_VERSION}"; return 1; }
  # Use the tag time from the proxy as build date (reproducible).
  build_date="$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",\{0,1\}$/\1/p' <<<"${info}")"
  build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "${build_date}" 2>/dev/null || true)"
  build_date="${build_date:-1970-01-01T00:00:00Z}"

  local staging
  staging="$(awk '
    /=> *\.\/staging\// {
      for (i = 1; i <= NF; i++) if ($i == "=>") break
      old = (i >= 3 && $(i-2) != "replace") ? $(i-2) : $(i-1)
      print old
    }' "${gomod}" | sort -u)"
  [[ -n "${staging}" ]] || { log "error: no staging replace directives found in ${gomod}"; return 1; }

  {
    printf 'module envtest/kube-apiserver\n\n'
    grep -E '^go [0-9]' "${gomod}" || true
    grep -E '^godebug ' "${gomod}" || true
    printf '\ntool k8s.io/kubernetes/cmd/kube-apiserver\n\n'
    printf 'require %s v%s\n\nreplace (\n' "${k8s_mod}" "${K8S_VERSION}"
    local m
    for m in ${staging}; do
      printf '\t%s => %s %s\n' "${m}" "${m}" "${staging_version}"
    done
    printf ')\n'
  } >"${mod_dir}/go.mod"

  (cd "${mod_dir}" && go mod tidy >&2)

  # Same version stamping and tags as k8s hack/lib/{version,golang}.sh.
  local major="${K8S_VERSION%%.*}" minor
  minor="${K8S_VERSION#*.}"
  minor="${minor%%.*}"
  local ldflags="-s -w" kv key val pkg
  for kv in "buildDate=${build_date}" "gitVersion=v${K8S_VERSION}" \
    "gitMajor=${major}" "gitMinor=${minor}"; do
    key="${kv%%=*}" val="${kv#*=}"
    for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
      ldflags+=" -X '${pkg}.${key}=${val}'"
    done
  done

  (cd "${mod_dir}" && go build -trimpath -tags selinux,notest,grpcnotrace \
    -ldflags "${ldflags}" -o "${mod_dir}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2)
  install_binary kube-apiserver "${mod_dir}/kube-apiserver"
  apiserver_ok || { log "error: built kube-apiserver does not report v${K8S_VERSION}"; return 1; }
}

build_etcd() {
  local mod_dir="${WORK_DIR}/etcd"
  mkdir -p "${mod_dir}"
  log "Building etcd v${ETCD_VERSION} from the Go module proxy (first time only; a few minutes)..."
  cat >"${mod_dir}/go.mod" <<EOF
module envtest/etcd

go 1.24

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
EOF
  # Same as etcd's own main.go.
  cat >"${mod_dir}/main.go" <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
EOF
  (cd "${mod_dir}" && go mod tidy >&2)
  (cd "${mod_dir}" && go build -trimpath -ldflags "-s -w" -o "${mod_dir}/etcd" . >&2)
  install_binary etcd "${mod_dir}/etcd"
  etcd_ok || { log "error: built etcd does not report ${ETCD_VERSION}"; return 1; }
}

# Re-check under the lock: another invocation may have built them meanwhile.
apiserver_ok || build_kube_apiserver
etcd_ok || build_etcd

log "envtest binaries ready in ${ASSETS_DIR}"
printf '%s\n' "${ASSETS_DIR}"
