//go:build tools

// The commands scripts/lib/kube-tools.ts builds from this module. Importing them here (never
// compiled: the tools build tag) keeps their dependencies in go.mod and go.sum through
// `go mod tidy`, so `go build` runs with -mod=readonly.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
