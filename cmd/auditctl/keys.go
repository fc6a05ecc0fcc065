package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/encryptpage"
	"github.com/contentful/auditlogs/internal/sas"
)

// parseResidencyFlag turns --residency into a residency; a bad value is a
// usage error.
func parseResidencyFlag(s string) (sas.Residency, error) {
	r, err := sas.ParseResidency(s)
	if err != nil {
		return "", usageError{fmt.Errorf("--residency: %w", err)}
	}
	return r, nil
}

// publicKey fetches and checks the residency's public key from KMS
// (AUDITLOG_KMS_KEY_US / _EU).
func publicKey(ctx context.Context, cfg config.Config, r sas.Residency) (*sas.PublicKey, error) {
	p, err := app.PublicKeys(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return p.Get(ctx, r)
}

// publicKeyJSON is `keys public --json`.
type publicKeyJSON struct {
	Residency            sas.Residency `json:"residency"`
	KeyID                string        `json:"key_id"`
	KeySpec              string        `json:"key_spec"`
	KeyUsage             string        `json:"key_usage"`
	EncryptionAlgorithms []string      `json:"encryption_algorithms"`
	SHA256               string        `json:"sha256"`
	PEM                  string        `json:"pem"`
}

// signingKeyJSON is `keys public --purpose signing --json`.
type signingKeyJSON struct {
	KeyID             string   `json:"key_id"`
	KeySpec           string   `json:"key_spec"`
	KeyUsage          string   `json:"key_usage"`
	SigningAlgorithms []string `json:"signing_algorithms"`
	Fingerprint       string   `json:"fingerprint"`
	PEM               string   `json:"pem"`
}

// The purposes of `keys public --purpose`.
const (
	purposeEncryption = "encryption"
	purposeSigning    = "signing"
)

func newKeys() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Hand out the public keys customers encrypt their SAS URL to and verify our signatures with", Args: cobra.NoArgs}
	var residency, purpose string
	var asJSON bool
	public := &cobra.Command{
		Use:   "public [--purpose encryption] --residency us|eu [--json] | public --purpose signing [--json]",
		Short: "Print a public key as PEM: a residency's, which customers encrypt their SAS URL to, or the signing key's, which they verify manifests with",
		Long: `public prints the public half of one of our KMS keys, read with GetPublicKey, as a
"PUBLIC KEY" PEM block (SubjectPublicKeyInfo).

--purpose encryption (the default) prints the residency's key (AUDITLOG_KMS_KEY_US
or AUDITLOG_KMS_KEY_EU; --residency is required): the file the product doc calls
contentful-audit-public-key.pem, which customers encrypt their SAS URL to. It
fails, naming the key, unless the key is RSA 4096 for ENCRYPT_DECRYPT and allows
RSAES_OAEP_SHA_256, because a customer could not submit a cipher made with any
other key. --json adds the key's ARN, spec, algorithms and the SHA-256
fingerprint of the key.

--purpose signing prints the signing key's (AUDITLOG_SIGNING_KEY_ID; one for all
residencies, so --residency is refused): what customers verify the manifest
beside each delivered file with,
  openssl dgst -sha256 -verify signing-key.pem -signature X.manifest.json.sig X.manifest.json
It fails, naming the key, unless the key is RSA 4096 for SIGN_VERIFY and allows
RSASSA_PKCS1_V1_5_SHA_256. --json prints key_id, key_spec, key_usage,
signing_algorithms, fingerprint (hex SHA-256 of the DER, to compare with the
key a customer holds) and pem.

Needs kms:GetPublicKey and kms:DescribeKey, never kms:Decrypt or kms:Sign.`,
		Example: `  auditctl keys public --residency us > contentful-audit-public-key.pem
  auditctl keys public --residency eu --json
  auditctl keys public --purpose signing > signing-key.pem
  auditctl keys public --purpose signing --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch purpose {
			case purposeSigning:
				if cmd.Flags().Changed("residency") {
					return usageError{errors.New("--residency: not with --purpose signing (one signing key signs for every residency)")}
				}
				return printSigningKey(cmd, asJSON)
			case purposeEncryption:
			default:
				return usageError{fmt.Errorf("--purpose: unknown purpose %q: want %s or %s", purpose, purposeEncryption, purposeSigning)}
			}
			if !cmd.Flags().Changed("residency") {
				return usageError{errors.New("--residency: required with --purpose encryption (us or eu)")}
			}
			r, err := parseResidencyFlag(residency)
			if err != nil {
				return err
			}
			k, err := publicKey(cmd.Context(), config.KeysFromEnv(), r)
			if err != nil {
				return err
			}
			if !asJSON {
				_, err := io.WriteString(cmd.OutOrStdout(), k.PEM())
				return err
			}
			out := publicKeyJSON{Residency: r, KeyID: k.KeyID, KeySpec: string(k.KeySpec), KeyUsage: string(k.KeyUsage),
				SHA256: k.Fingerprint(), PEM: k.PEM()}
			for _, a := range k.Algorithms {
				out.EncryptionAlgorithms = append(out.EncryptionAlgorithms, string(a))
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(out)
		},
	}
	public.Flags().StringVar(&purpose, "purpose", purposeEncryption, "encryption (a residency's SAS key) or signing (the key that signs delivered files' manifests)")
	public.Flags().StringVar(&residency, "residency", "", "us or eu: whose key to print (--purpose encryption only)")
	public.Flags().BoolVar(&asJSON, "json", false, "print the key and its description as JSON")
	cmd.AddCommand(public)
	return cmd
}

// printSigningKey prints the signing key's checked public half
// (AUDITLOG_SIGNING_KEY_ID) as PEM, or as signingKeyJSON.
func printSigningKey(cmd *cobra.Command, asJSON bool) error {
	s, err := app.Signer(cmd.Context(), config.KeysFromEnv())
	if err != nil {
		return err
	}
	k, err := s.PublicKey(cmd.Context())
	if err != nil {
		return err
	}
	if !asJSON {
		_, err := io.WriteString(cmd.OutOrStdout(), k.PEM)
		return err
	}
	return json.NewEncoder(cmd.OutOrStdout()).Encode(signingKeyJSON{KeyID: k.KeyID, KeySpec: k.KeySpec, KeyUsage: k.KeyUsage,
		SigningAlgorithms: k.SigningAlgorithms, Fingerprint: k.Fingerprint, PEM: k.PEM})
}

// encryptJSON is `sas encrypt --json`: the cipher and what was encrypted,
// without the signature.
type encryptJSON struct {
	Residency sas.Residency `json:"residency"`
	KeyID     string        `json:"key_id"`
	Account   string        `json:"account"`
	Container string        `json:"container"`
	Expiry    time.Time     `json:"expiry"`
	SASCipher string        `json:"sas_cipher"`
}

func newSAS() *cobra.Command {
	cmd := &cobra.Command{Use: "sas", Short: "Work with customers' Azure SAS URLs", Args: cobra.NoArgs}
	var residency, in string
	var asJSON bool
	encrypt := &cobra.Command{
		Use:   "encrypt --residency us|eu --in FILE|-",
		Short: "Encrypt a container SAS URL to a residency's public key, as the product doc's openssl commands do",
		Long: `encrypt reads a container SAS URL from FILE (- for standard input), checks it
as the export will (an Azure Blob container, create and write permissions, not
expired), encrypts it with RSA-OAEP SHA-256 to the residency's public key (see
"auditctl keys public") and prints the base64 cipher in the layout the product
doc's "openssl pkeyutl ... | base64" produces: what "destination put
--azure-sas-cipher-file" takes and the export decrypts.

The input must be the URL and nothing else: leading or trailing white space,
a final line break included, is refused, not removed (write the file with
printf '%s' "$URL"). Errors never show the signature. --json prints the cipher
with the account, container and expiry it is for.`,
		Example: `  printf '%s' "$SAS_URL" > sas-token.plain
  auditctl sas encrypt --residency us --in sas-token.plain > sas-token.enc.b64
  printf '%s' "$SAS_URL" | auditctl sas encrypt --residency eu --in - --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := parseResidencyFlag(residency)
			if err != nil {
				return err
			}
			plain, err := readPlain(cmd, in)
			if err != nil {
				return err
			}
			cfg := config.KeysFromEnv()
			// Check before asking KMS for anything: a wrong URL is the
			// likelier mistake, and it is named with the input's name.
			u, err := sas.CheckURL(plain, time.Now(), app.SASPolicy(cfg))
			if err != nil {
				return fmt.Errorf("--in %s: %w", in, err)
			}
			k, err := publicKey(cmd.Context(), cfg, r)
			if err != nil {
				return err
			}
			cipher, err := sas.Encrypt(k.Key, plain)
			if err != nil {
				return fmt.Errorf("--in %s: %w", in, err)
			}
			if !asJSON {
				_, err := io.WriteString(cmd.OutOrStdout(), cipher)
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(encryptJSON{Residency: r, KeyID: k.KeyID,
				Account: u.Account(), Container: u.Container(), Expiry: u.Expiry(), SASCipher: cipher})
		},
	}
	f := encrypt.Flags()
	f.StringVar(&residency, "residency", "", "us or eu: the key to encrypt to")
	f.StringVar(&in, "in", "", "file holding the SAS URL and nothing else, - for standard input")
	f.BoolVar(&asJSON, "json", false, "print the cipher, account, container and expiry as JSON")
	_ = encrypt.MarkFlagRequired("residency")
	_ = encrypt.MarkFlagRequired("in")
	cmd.AddCommand(encrypt)
	return cmd
}

// readPlain reads the SAS URL from the file or standard input, exactly as
// it is. A file that cannot be read is a usage error.
func readPlain(cmd *cobra.Command, name string) (string, error) {
	var r io.Reader = cmd.InOrStdin()
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return "", usageError{fmt.Errorf("--in: %w", err)}
		}
		defer f.Close()
		r = f
	}
	// Far more than any SAS URL; bounds what a wrong file costs.
	const limit = 64 << 10
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return "", fmt.Errorf("--in %s: %w", name, err)
	}
	if len(b) > limit {
		return "", fmt.Errorf("--in %s: more than %d bytes: not a SAS URL", name, limit)
	}
	return string(b), nil
}

func newEncryptPage() *cobra.Command {
	var residency, out, serve string
	cmd := &cobra.Command{
		Use:   "encrypt-page --residency us|eu (--out FILE | --serve 127.0.0.1:PORT)",
		Short: "Write or serve the page that encrypts a SAS URL in the customer's browser",
		Long: `encrypt-page renders the product doc's "Option 2" page: one self-contained HTML
file with our public keys in it (the residency's, and the other residency's
when AUDITLOG_KMS_KEY_US/EU configures both; --residency is the one selected
first) that encrypts a SAS URL in the browser with WebCrypto RSA-OAEP SHA-256
and prints the cipher as "auditctl sas encrypt" does, refusing the same
leading or trailing white space. The page makes no network requests: its
Content-Security-Policy is default-src 'none', with only its own inline script
and style allowed, by hash.

--out writes the file (to publish, or to hand to a customer); --serve serves it
on a loopback address until interrupted, e.g. to try it. Other addresses are
refused: the page is not meant to be served from this tool to a network.`,
		Example: `  auditctl encrypt-page --residency us --out encrypt-sas.html
  auditctl encrypt-page --residency eu --serve 127.0.0.1:8089`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := parseResidencyFlag(residency)
			if err != nil {
				return err
			}
			if (out == "") == (serve == "") {
				return usageError{errors.New("give either --out FILE or --serve 127.0.0.1:PORT")}
			}
			if serve != "" {
				if err := encryptpage.CheckLoopback(serve); err != nil {
					return usageError{err}
				}
			}
			page, err := renderPage(cmd.Context(), r)
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, page, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes)\n", out, len(page))
				return nil
			}
			return servePage(cmd, serve, page)
		},
	}
	f := cmd.Flags()
	f.StringVar(&residency, "residency", "", "us or eu: the residency selected when the page opens")
	f.StringVar(&out, "out", "", "write the page to this file")
	f.StringVar(&serve, "serve", "", "serve the page on this loopback address, e.g. 127.0.0.1:8089")
	_ = cmd.MarkFlagRequired("residency")
	return cmd
}

// renderPage fetches the default residency's key (required) and the
// other's (when configured) and renders the page.
func renderPage(ctx context.Context, def sas.Residency) ([]byte, error) {
	cfg := config.KeysFromEnv()
	p, err := app.PublicKeys(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var keys []*sas.PublicKey
	for _, r := range sas.Residencies {
		if r != def && p.KeyIDs[r] == "" {
			continue
		}
		k, err := p.Get(ctx, r)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	var b bytes.Buffer
	if err := encryptpage.Render(&b, keys, def); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// servePage serves the page on addr until the command's context ends.
func servePage(cmd *cobra.Command, addr string, page []byte) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: encryptpage.Handler(page), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(cmd.OutOrStdout(), "serving the encryption page on http://%s/ (Ctrl-C to stop)\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-cmd.Context().Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
