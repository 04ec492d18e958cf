package main

import (
	_ "github.com/spf13/cobra"
	_ "k8s.io/cli-runtime/pkg/genericclioptions"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/kubectl/pkg/drain"
	_ "k8s.io/kubectl/pkg/util/templates"
	_ "github.com/google/go-cmp/cmp"
)

func main() {}
