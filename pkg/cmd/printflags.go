package cmd

import "k8s.io/cli-runtime/pkg/genericclioptions"

// documentPrintFlags are the -o flags of a command that prints a document (a status, a
// plan, a pre-check report, a version): json, yaml and templates. No -o name: these
// documents are not objects in the cluster and have no name to print.
func documentPrintFlags() *genericclioptions.PrintFlags {
	pf := genericclioptions.NewPrintFlags("")
	pf.NamePrintFlags = nil
	return pf
}
