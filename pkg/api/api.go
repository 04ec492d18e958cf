// Package api names the API group and version of the typed documents the plugin
// prints with -o json|yaml: the status, the plan, the pre-check report and the
// version. Each printer names its own kind; the apiVersion is the same for all, so
// scripts can tell these documents apart from the others they read.
package api

const (
	// Group of every document the plugin prints.
	Group = "edgeupgrade.io"
	// Version of the documents' schema. The status is a versioned contract (README).
	Version = "v1alpha1"
	// GroupVersion is the documents' apiVersion.
	GroupVersion = Group + "/" + Version
)
