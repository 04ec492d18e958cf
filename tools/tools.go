//go:build tools

// Package tools pins the linters `make verify` runs. It is a module of its own so that
// their dependencies never enter the plugin's go.mod.
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
