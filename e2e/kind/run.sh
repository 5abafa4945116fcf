#!/usr/bin/env bash
# End-to-end on a real Kubernetes cluster (kind, needs Docker, kind and kubectl):
#   1. a 3-node kind cluster with no CNI, plus a second Docker network attached to every node
#      as eth1 (the private switch bridgeway routes over);
#   2. the bridgeway image built and loaded, manifests/bridgeway.yaml applied;
#   3. checks: every node Ready with NetworkUnavailable=False and a bridgeway.io/eth1-ip
#      annotation; a pod per node; every pod reaches every other pod by IP across nodes, with
#      its own source address (no masquerade); a ClusterIP Service answers from every node;
#   4. the uninstall, in the README's order: pods deleted, the agent's DaemonSet deleted,
#      manifests/uninstall.yaml applied until every pod of it is Ready, then every Node has
#      none of our annotations and no NetworkUnavailable condition of ours; both files deleted.
# Usage: e2e/kind/run.sh [--dry-run] [--keep]
#   --dry-run  print every command instead of running it (works without Docker)
#   --keep     leave the cluster up for inspection
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${CLUSTER:-bridgeway-e2e}
ETH1_NET=${ETH1_NET:-bridgeway-eth1}
ETH1_SUBNET=${ETH1_SUBNET:-172.31.250.0/24}
IMAGE=bridgeway:0.1.0
DRY_RUN=false
KEEP=false
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=true ;;
    --keep) KEEP=true ;;
    *) echo "unknown argument: $arg (see the header of $0)" >&2; exit 2 ;;
  esac
done

run() {
  if $DRY_RUN; then printf '+ %s\n' "$*"; else "$@"; fi
}
# Like run, but its output is used; in a dry run it prints the command and yields $2.
query() {
  if $DRY_RUN; then printf '+ %s\n' "$1" >&2; printf '%s' "$2"; else bash -c "$1"; fi
}
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! $DRY_RUN; then
  for tool in docker kind kubectl; do
    command -v "$tool" >/dev/null || fail "$tool is required (or use --dry-run)"
  done
fi

cleanup() {
  if $KEEP; then echo "cluster $CLUSTER kept (kind delete cluster --name $CLUSTER; docker network rm $ETH1_NET)"; return; fi
  run kind delete cluster --name "$CLUSTER" || true
  run docker network rm "$ETH1_NET" || true
}
trap cleanup EXIT

step "cluster without a CNI"
run kind create cluster --name "$CLUSTER" --config e2e/kind/kind-config.yaml --wait 0s

step "eth1: a second Docker network on every node"
run docker network create --driver bridge --subnet "$ETH1_SUBNET" "$ETH1_NET"
nodes=$(query "kind get nodes --name $CLUSTER" "$CLUSTER-control-plane $CLUSTER-worker $CLUSTER-worker2")
for node in $nodes; do
  run docker network connect "$ETH1_NET" "$node"
done

step "image and manifests"
run docker build -t "$IMAGE" .
run kind load docker-image "$IMAGE" --name "$CLUSTER"
run kubectl apply -f manifests/bridgeway.yaml
run kubectl -n kube-system rollout status daemonset/bridgeway --timeout=180s
run kubectl wait --for=condition=Ready nodes --all --timeout=180s

step "every node: NetworkUnavailable=False and its eth1 address published"
for node in $nodes; do
  unavailable=$(query "kubectl get node $node -o jsonpath='{.status.conditions[?(@.type==\"NetworkUnavailable\")].status}'" False)
  [ "$unavailable" = False ] || fail "$node: NetworkUnavailable=$unavailable"
  address=$(query "kubectl get node $node -o jsonpath='{.metadata.annotations.bridgeway\\.io/eth1-ip}'" 172.31.250.2)
  [ -n "$address" ] || fail "$node: no bridgeway.io/eth1-ip annotation"
  echo "$node: eth1 $address"
done

step "a pod on every node"
run kubectl apply -f e2e/kind/workload.yaml
run kubectl rollout status daemonset/netexec --timeout=180s
pods=$(query "kubectl get pods -l app=netexec -o jsonpath='{range .items[*]}{.metadata.name},{.status.podIP},{.spec.nodeName} {end}'" \
  "netexec-a,10.244.0.5,$CLUSTER-control-plane netexec-b,10.244.1.3,$CLUSTER-worker")

step "pod to pod across nodes, with the real source address"
for from in $pods; do
  IFS=, read -r from_name from_ip _ <<<"$from"
  for to in $pods; do
    IFS=, read -r _ to_ip _ <<<"$to"
    [ "$from_ip" = "$to_ip" ] && continue
    # netexec's /dial makes the source pod call the target's /clientip, which answers with the
    # address it saw; reached through the API server's pod proxy.
    seen=$(query "kubectl get --raw '/api/v1/namespaces/default/pods/$from_name:8080/proxy/dial?request=clientip&protocol=http&host=$to_ip&port=8080&tries=1'" \
      "{\"responses\":[\"$from_ip:40000\"]}")
    seen_ip=$(sed -n 's/.*"responses":\["\([0-9.]*\):.*/\1/p' <<<"$seen")
    [ "$seen_ip" = "$from_ip" ] || fail "$from_ip -> $to_ip: the peer saw '${seen_ip:-nothing}' (${seen})"
    echo "$from_ip -> $to_ip ok"
  done
done

step "a ClusterIP Service from every pod"
for from in $pods; do
  IFS=, read -r from_name from_ip _ <<<"$from"
  run kubectl exec "$from_name" -- /agnhost connect --timeout=5s netexec.default.svc.cluster.local:80
  echo "$from_ip -> service ok"
done

step "uninstall, in the documented order"
run kubectl delete -f e2e/kind/workload.yaml --wait=true
run kubectl -n kube-system delete daemonset bridgeway --wait=true
run kubectl apply -f manifests/uninstall.yaml
run kubectl -n kube-system rollout status daemonset/bridgeway-uninstall --timeout=180s
for node in $nodes; do
  left=$(query "kubectl get node $node -o jsonpath='{.metadata.annotations.bridgeway\\.io/eth1-ip}{.status.conditions[?(@.reason==\"BridgewayIsUp\")].type}'" "")
  [ -z "$left" ] || fail "$node: after uninstall the Node still has '$left'"
  echo "$node: clean"
done
run kubectl delete --ignore-not-found -f manifests/uninstall.yaml -f manifests/bridgeway.yaml

echo
echo "PASS: bridgeway on kind"
