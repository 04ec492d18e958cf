// Command kubectl-edgeupgrade is the kubectl plugin `kubectl edgeupgrade`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/cmd"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := cmd.NewCmdRoot(streams).ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "error: "+err.Error())
	os.Exit(exitCode(err))
}

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var ee *cmd.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, precheck.ErrBlocking):
		return cmd.ExitPreCheck
	}
	return cmd.ExitFailure
}
