// Command auditctl is the operator's tool for the audit log delivery
// service. It reads the same environment as the Lambda functions (see
// internal/app). Exit codes: 0 ok, 1 failure, 2 usage.
//
// The commands are thin: they parse flags, build the App and call the
// component that does the work (destination put: internal/registration;
// verify: internal/verify; export and backfill: the ledgered delivery of
// App.Delivery, given a parsed audit.Day, never a Lambda payload).
// auditctl is at the top and may import any internal package but the
// export and retry functions' adapters (internal/exportfn,
// internal/retryfn); nothing imports it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// usageError marks errors in how the command was called (exit code 2).
type usageError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err := root.ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "auditctl:", err)
	if isUsage(err) {
		os.Exit(2)
	}
	os.Exit(1)
}

// isUsage tells usage errors: ours, and cobra's for a missing required
// flag or an unknown command, which it returns as plain errors.
func isUsage(err error) bool {
	msg := err.Error()
	return errors.As(err, new(usageError)) || strings.HasPrefix(msg, "required flag") || strings.HasPrefix(msg, "unknown command")
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "auditctl",
		Short:         "Operate the audit log delivery service",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
	}
	root.AddCommand(
		newUp(), newDown(), newDemo(), newExport(), newEvents(), newDestination(), newRun(), newStatus(), newRedrive(),
		newIngest(),
		newKeys(), newSAS(), newEncryptPage(),
		newVerify(), newPolicies(), newBackfill(), newCompact(),
		newFiles(), newAPI(),
	)
	return root
}
