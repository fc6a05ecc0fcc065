package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

func run(args ...string) (string, error) {
	root := newRoot()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestHelpListsDemoWithExample(t *testing.T) {
	out, err := run("demo", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "make demo") || !strings.Contains(out, "--events") {
		t.Fatalf("demo --help lacks its example or flag:\n%s", out)
	}
}

func TestUnknownFlagIsAUsageError(t *testing.T) {
	_, err := run("demo", "--no-such-flag")
	if !errors.As(err, new(usageError)) {
		t.Fatalf("err = %v, want a usage error (exit code 2)", err)
	}
}

// TestEveryCommandHasHelpAndExample: each command documents itself.
func TestEveryCommandHasHelpAndExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && (c.Short == "" || c.Example == "") {
			t.Errorf("%q lacks a short description or an example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
}

// startStack starts a local stack (moto_server, local-kms, Azurite) of the
// test's own, stopped when the test ends; a missing emulator fails the
// test under AUDITLOG_REQUIRE_EMULATORS=1 and skips it otherwise.
func startStack(t *testing.T) *localstack.Stack {
	t.Helper()
	testenv.RequireTools(t, "moto_server", "local-kms", "azurite-blob")
	st, err := localstack.Start(context.Background())
	t.Cleanup(st.Stop)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// ndjsonFile writes events to an NDJSON file of the test's own (the
// input of `auditctl events load`).
func ndjsonFile(t *testing.T, events []audit.Event) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "events.ndjson")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.WriteNDJSON(f, events...); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}
