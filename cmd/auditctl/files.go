package main

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/manifest"
)

// signingPublicKey is the manifests' signing key, for `files verify`
// without --key: the public half of AUDITLOG_SIGNING_KEY_ID in KMS.
var signingPublicKey = func(ctx context.Context) (*rsa.PublicKey, error) {
	s, err := app.Signer(ctx, config.KeysFromEnv())
	if err != nil {
		return nil, fmt.Errorf("%w (or give --key: the signing key's PEM, from auditctl keys public --purpose signing)", err)
	}
	k, err := s.PublicKey(ctx)
	if err != nil {
		return nil, err
	}
	return k.Key, nil
}

func newFiles() *cobra.Command {
	cmd := &cobra.Command{Use: "files", Short: "Work with delivered files as a customer downloads them", Args: cobra.NoArgs}
	var dir, keyFile string
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify --dir DIR [--key PEM] [--json]",
		Short: "Check downloaded deliveries offline: signatures, files, the manifest chain, missing days",
		Long: `verify checks a folder of deliveries as a customer downloads them from their
destination (aws s3 sync s3://BUCKET/PREFIX/ DIR/, or azcopy), in the flat
layout or under date=YYYY-MM-DD/ folders, with the checks of
docs/verify-deliveries.sh, which customers run without auditctl:

  - each manifest's signature (X.manifest.json.sig, RSASSA-PKCS1-v1_5 SHA-256)
    verifies its exact bytes with the signing key, and the manifest names
    that key's fingerprint;
  - each manifest is readable, is named after the file it describes, and the
    file beside it has the manifest's size and SHA-256;
  - per org, the manifests' previous links form one unbroken chain (no
    dangling link, fork, second first manifest, or manifest off the chain
    from the newest), counting the earlier versions of a redelivered day
    that its new manifest vouches for;
  - no day between an org's first and last day lacks a manifest.

Manifests are matched to their files by name, in their own folder, so the
prefix need not be known. Each problem is printed on a line of its own,
"KIND PATH: what is wrong" (PATH relative to DIR; for day_missing the day),
then a summary. Nothing offline tells that the newest deliveries were
deleted: compare the last day with what you expect.

--key is the signing key's public half as a "PUBLIC KEY" PEM file. Exit
code 0 when nothing is wrong, 1 when anything is, 2 for a bad call.`,
		Example: `  aws s3 sync s3://customer-bucket/audit/ deliveries/
  auditctl files verify --dir deliveries --key signing-key.pem
  auditctl files verify --dir deliveries --key signing-key.pem --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return usageError{fmt.Errorf("--dir %q: not a folder", dir)}
			}
			key, err := readSigningKey(cmd.Context(), keyFile)
			if err != nil {
				return err
			}
			r, err := manifest.Verify(dir, key)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				if err := json.NewEncoder(w).Encode(r); err != nil {
					return err
				}
			} else {
				printFilesReport(w, r)
			}
			if !r.OK() {
				return fmt.Errorf("%d problems in the deliveries in %s", len(r.Problems), dir)
			}
			return nil
		},
	}
	f := verify.Flags()
	f.StringVar(&dir, "dir", "", "folder of downloaded deliveries")
	f.StringVar(&keyFile, "key", "", `the signing key's public half, a "PUBLIC KEY" PEM file`)
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	_ = verify.MarkFlagRequired("dir")
	cmd.AddCommand(verify)
	return cmd
}

// readSigningKey reads --key, or asks signingPublicKey without it.
func readSigningKey(ctx context.Context, file string) (*rsa.PublicKey, error) {
	if file == "" {
		return signingPublicKey(ctx)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, usageError{fmt.Errorf("--key: %w", err)}
	}
	k, err := manifest.ParsePublicKeyPEM(b)
	if err != nil {
		return nil, usageError{fmt.Errorf("--key %s: %w", file, err)}
	}
	return k, nil
}

// printFilesReport writes r as docs/verify-deliveries.sh does: the
// problems, each org's days, and what was checked.
func printFilesReport(w io.Writer, r *manifest.Report) {
	for _, p := range r.Problems {
		fmt.Fprintln(w, p)
	}
	for _, o := range r.Orgs {
		fmt.Fprintf(w, "org %s: %d days from %s to %s, %d manifests in its chain\n", o.OrgID, o.Days, o.FirstDay, o.LastDay, o.Chain)
	}
	fmt.Fprintf(w, "checked %d manifests (%d signatures valid) and %d files: %s\n", r.Manifests, r.Signatures, r.Files, problemCount(len(r.Problems)))
}

func problemCount(n int) string {
	switch n {
	case 0:
		return "no problems"
	case 1:
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}
