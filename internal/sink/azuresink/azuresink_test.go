package azuresink_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sas/sastest"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
	"github.com/contentful/auditlogs/internal/sink/sinktest"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// Azurite's well-known development account (public, documented by
// Microsoft; not a secret).
const (
	devAccount = "devstoreaccount1"
	devKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

const (
	testBlockSize = 1 << 20
	testLargeSize = 3<<20 + 512<<10 // 3.5 blocks: a short last block
)

// env is one Azurite container, with an admin client (shared key) that
// reads back what the sink wrote.
type env struct {
	srv       *testenv.Server
	container string
	admin     *container.Client
}

func newEnv(t *testing.T, create bool) *env {
	t.Helper()
	srv := testenv.Azurite(t)
	name := testenv.UniqueName("audit")
	cred, err := container.NewSharedKeyCredential(devAccount, devKey)
	if err != nil {
		t.Fatal(err)
	}
	// The admin client reads back the stored bytes as they are: Go's
	// transport would otherwise ask for gzip and transparently decompress
	// a blob stored with Content-Encoding gzip.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	admin, err := container.NewClientWithSharedKeyCredential(srv.URL+"/"+devAccount+"/"+name, cred,
		&container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: tr}}})
	if err != nil {
		t.Fatal(err)
	}
	if create {
		if _, err := admin.Create(context.Background(), nil); err != nil {
			t.Fatalf("create container %s: %v", name, err)
		}
	}
	return &env{srv: srv, container: name, admin: admin}
}

// sasURL signs a container SAS with key (the account key unless given) and
// returns the full URL and the signature.
func (e *env) sasURL(t *testing.T, perms azsas.ContainerPermissions, expiry time.Time, key ...string) (raw, sig string) {
	t.Helper()
	k := devKey
	if len(key) == 1 {
		k = key[0]
	}
	cred, err := container.NewSharedKeyCredential(devAccount, k)
	if err != nil {
		t.Fatal(err)
	}
	qp, err := azsas.BlobSignatureValues{
		Protocol:      azsas.ProtocolHTTPSandHTTP,
		ExpiryTime:    expiry.UTC(),
		Permissions:   perms.String(),
		ContainerName: e.container,
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	return e.srv.URL + "/" + devAccount + "/" + e.container + "?" + qp.Encode(), qp.Signature()
}

func (e *env) policy() sas.Policy { return sas.Policy{AllowedEmulatorHosts: []string{e.srv.Host}} }

var createWrite = azsas.ContainerPermissions{Create: true, Write: true}

// writeOnlySink is a Sink with a create+write SAS, as customers give us.
func (e *env) writeOnlySink(t *testing.T, opts azuresink.Options) (*azuresink.Sink, string) {
	t.Helper()
	raw, sig := e.sasURL(t, createWrite, time.Now().Add(time.Hour))
	u, err := sas.Parse(raw, time.Now(), e.policy())
	if err != nil {
		t.Fatalf("parse SAS URL: %v", err)
	}
	if u.Permissions() != "cw" {
		t.Fatalf("SAS permissions = %q, want exactly create and write", u.Permissions())
	}
	s, err := azuresink.New(u, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, sig
}

func (e *env) get(ctx context.Context, name string) ([]byte, bool, error) {
	resp, err := e.admin.NewBlobClient(name).DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, err == nil, err
}

// head reads back a blob's Content-Type, Content-Encoding and metadata.
// azblob gives metadata names as Go's HTTP client canonicalized the
// x-ms-meta- headers (org becomes Org); Azure's names are case-insensitive,
// so lowercasing gives back the names as set.
func (e *env) head(ctx context.Context, name string) (sink.Object, bool, error) {
	props, err := e.admin.NewBlobClient(name).GetProperties(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return sink.Object{}, false, nil
	}
	if err != nil {
		return sink.Object{}, false, err
	}
	o := sink.Object{ContentType: deref(props.ContentType), ContentEncoding: deref(props.ContentEncoding)}
	for k, v := range props.Metadata {
		if o.Metadata == nil {
			o.Metadata = map[string]string{}
		}
		o.Metadata[strings.ToLower(k)] = deref(v)
	}
	return o, true, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (e *env) list(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	pager := e.admin.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	return names, nil
}

// assertNoSig fails if any text holds the signature, raw or URL-encoded.
func assertNoSig(t *testing.T, sig string, texts ...string) {
	t.Helper()
	if sig == "" {
		t.Fatal("empty signature: the test would prove nothing")
	}
	for _, text := range texts {
		for _, s := range []string{sig, strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(sig, "+", "%2B"), "/", "%2F"), "=", "%3D")} {
			if strings.Contains(text, s) {
				t.Fatalf("the SAS signature leaked: %s", text)
			}
		}
	}
}

// TestAcceptance runs the shared sink suite against Azurite, writing with
// a create+write SAS and reading back with the account key. The prefix
// has a "/", so blob names with folders are covered too.
func TestAcceptance(t *testing.T) {
	e := newEnv(t, true)
	const prefix = "audit/contentful/"
	s, _ := e.writeOnlySink(t, azuresink.Options{BlockSize: testBlockSize, Prefix: prefix})
	sinktest.Run(t, "run1/", sinktest.Target{
		Sink: s,
		Get: func(ctx context.Context, name string) ([]byte, bool, error) {
			return e.get(ctx, prefix+name)
		},
		List: func(ctx context.Context, p string) ([]string, error) {
			names, err := e.list(ctx, prefix+p)
			for i := range names {
				names[i] = strings.TrimPrefix(names[i], prefix)
			}
			return names, err
		},
		Head: func(ctx context.Context, name string) (sink.Object, bool, error) {
			return e.head(ctx, prefix+name)
		},
		LargeSize: testLargeSize,
	})
}

// TestBlocksAndContentType checks what the suite cannot see: a large body
// went up as several committed blocks (so it was streamed, not buffered
// whole), a small one as a single blob, and both carry the Object's
// headers and metadata (so the commit of the blocks carries them).
func TestBlocksAndContentType(t *testing.T) {
	e := newEnv(t, true)
	s, _ := e.writeOnlySink(t, azuresink.Options{BlockSize: testBlockSize})
	ctx := testenv.Context(t)
	large := make([]byte, testLargeSize)
	if _, err := rand.Read(large); err != nil {
		t.Fatal(err)
	}
	o := sink.Object{ContentType: "application/x-ndjson", ContentEncoding: "gzip",
		Metadata: map[string]string{"org": "org1", "sha256": strings.Repeat("ab", 32)}}
	for _, tc := range []struct {
		name       string
		body       []byte
		wantBlocks int
	}{{"large.csv", large, 4}, {"small.csv", []byte("a,b\r\n"), 0}} {
		if err := s.Upload(ctx, tc.name, bytes.NewReader(tc.body), o); err != nil {
			t.Fatal(err)
		}
		bb := e.admin.NewBlockBlobClient(tc.name)
		got, ok, err := e.head(ctx, tc.name)
		if err != nil || !ok {
			t.Fatalf("%s: head: %v, exists %v", tc.name, err, ok)
		}
		if got.ContentType != o.ContentType || got.ContentEncoding != o.ContentEncoding || !maps.Equal(got.Metadata, o.Metadata) {
			t.Errorf("%s: stored %+v, want %+v", tc.name, got, o)
		}
		bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeCommitted, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(bl.CommittedBlocks); got != tc.wantBlocks {
			t.Errorf("%s: %d committed blocks, want %d", tc.name, got, tc.wantBlocks)
		}
	}
}

func TestExpiredSAS(t *testing.T) {
	e := newEnv(t, true)
	expiry := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	raw, sig := e.sasURL(t, createWrite, expiry)

	_, err := sas.Parse(raw, time.Now(), e.policy())
	if err == nil || !errors.Is(err, sink.ErrInvalidConfig) || !strings.Contains(err.Error(), "SAS URL expired at "+expiry.Format(time.RFC3339)) {
		t.Fatalf("Parse of an expired SAS: %v", err)
	}
	assertNoSig(t, sig, err.Error())

	// A SAS that expired after it was checked: the sink refuses it
	// without a request.
	u, err := sas.Parse(raw, expiry.Add(-time.Hour), e.policy())
	if err != nil {
		t.Fatal(err)
	}
	s, err := azuresink.New(u, azuresink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Upload(testenv.Context(t), "x.csv", strings.NewReader("x"), sink.Object{})
	if !errors.Is(err, sink.ErrInvalidConfig) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Upload with an expired SAS: %v", err)
	}
	assertNoSig(t, sig, err.Error())

	// And Azurite itself refuses it, so the check above only makes the
	// error clearer: straight through the SDK, bypassing Parse.
	c, err := container.NewClientWithNoCredential(raw, &container.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.NewBlockBlobClient("x.csv").UploadStream(testenv.Context(t), strings.NewReader("x"), nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 403 {
		t.Fatalf("Azurite accepted an expired SAS: %v", err)
	}
	assertAbsent(t, e, "x.csv")
}

func TestSASRefusedByParse(t *testing.T) {
	e := newEnv(t, true)
	readOnly, sig := e.sasURL(t, azsas.ContainerPermissions{Read: true}, time.Now().Add(time.Hour))
	good, goodSig := e.sasURL(t, createWrite, time.Now().Add(time.Hour))
	query := good[strings.Index(good, "?"):]
	for _, tc := range []struct {
		name, raw string
		policy    sas.Policy
		want      string
	}{
		{"read-only", readOnly, e.policy(), `SAS permissions "r" lack create (c) and write (w)`},
		{"emulator not allowed", good, sas.Policy{}, fmt.Sprintf("SAS host %q is not an Azure Blob host", e.srv.Host)},
		{"other local host", strings.Replace(good, "127.0.0.1", "127.0.0.2", 1), e.policy(), "is not an Azure Blob host"},
		{"attacker host", "https://attacker.example.com/" + e.container + query, e.policy(), `SAS host "attacker.example.com" is not an Azure Blob host`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sas.Parse(tc.raw, time.Now(), tc.policy)
			if err == nil || !errors.Is(err, sink.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			assertNoSig(t, sig, err.Error())
			assertNoSig(t, goodSig, err.Error())
			t.Logf("refused: %v", err)
		})
	}
}

func TestMissingContainer(t *testing.T) {
	e := newEnv(t, false)
	s, sig := e.writeOnlySink(t, azuresink.Options{})
	err := s.Upload(testenv.Context(t), "x.csv", strings.NewReader("x"), sink.Object{})
	if !errors.Is(err, sink.ErrNotFound) {
		t.Fatalf("Upload to a missing container: %v, want sink.ErrNotFound", err)
	}
	var ae *azuresink.Error
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Code != string(bloberror.ContainerNotFound) || ae.Blob != "x.csv" {
		t.Fatalf("error = %#v, want status 404 ContainerNotFound for x.csv", err)
	}
	assertNoSig(t, sig, err.Error(), fmt.Sprintf("%+v", err))
	t.Logf("error: %v", err)
}

// countingReader serves n zero bytes and counts what was read.
type countingReader struct {
	n, read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.read >= c.n {
		return 0, io.EOF
	}
	k := min(len(p), c.n-c.read)
	clear(p[:k])
	c.read += k
	return k, nil
}

// TestBadSignatureFailsFast: a SAS whose signature Azure refuses is access
// denied, and the upload stops reading its source soon after the first
// refusal instead of reading the whole day for nothing.
func TestBadSignatureFailsFast(t *testing.T) {
	e := newEnv(t, true)
	otherKey := make([]byte, 64)
	if _, err := rand.Read(otherKey); err != nil {
		t.Fatal(err)
	}
	raw, sig := e.sasURL(t, createWrite, time.Now().Add(time.Hour), base64.StdEncoding.EncodeToString(otherKey))
	u, err := sas.Parse(raw, time.Now(), e.policy())
	if err != nil {
		t.Fatal(err)
	}
	s, err := azuresink.New(u, azuresink.Options{BlockSize: testBlockSize, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	src := &countingReader{n: 512 << 20}
	err = s.Upload(testenv.Context(t), "big.csv", src, sink.Object{})
	if !errors.Is(err, sink.ErrAccessDenied) {
		t.Fatalf("Upload with a bad signature: %v, want sink.ErrAccessDenied", err)
	}
	var ae *azuresink.Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 {
		t.Fatalf("error = %v, want status 403", err)
	}
	if src.read > 32<<20 {
		t.Errorf("read %d MiB of the source after the SAS was refused, want it to stop within a few blocks", src.read>>20)
	}
	assertNoSig(t, sig, err.Error(), fmt.Sprintf("%+v", err))
	assertAbsent(t, e, "big.csv")
	t.Logf("error after reading %d MiB: %v", src.read>>20, err)
}

// TestNetworkErrorIsScrubbed: a transport error (here: nothing listens)
// comes from net/http as a *url.Error that quotes the request URL with
// the SAS. It must come out transient and without the signature.
func TestNetworkErrorIsScrubbed(t *testing.T) {
	e := newEnv(t, true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	raw, sig := e.sasURL(t, createWrite, time.Now().Add(time.Hour))
	raw = strings.Replace(raw, e.srv.Host, closed, 1)
	u, err := sas.Parse(raw, time.Now(), sas.Policy{AllowedEmulatorHosts: []string{closed}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := azuresink.New(u, azuresink.Options{Retry: policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Upload(testenv.Context(t), "x.csv", strings.NewReader("x"), sink.Object{})
	if err == nil {
		t.Fatal("Upload to a closed port succeeded")
	}
	if sink.IsPermanent(err) {
		t.Errorf("a network error is classified permanent: %v", err)
	}
	if !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "REDACTED") {
		t.Errorf("error = %v, want the scrubbed network error", err)
	}
	assertNoSig(t, sig, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	t.Logf("error: %v", err)
}

func TestCanceledBeforeStart(t *testing.T) {
	e := newEnv(t, true)
	s, _ := e.writeOnlySink(t, azuresink.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Upload(ctx, "x.csv", strings.NewReader("x"), sink.Object{})
	if !errors.Is(err, context.Canceled) || sink.IsPermanent(err) {
		t.Fatalf("Upload with a canceled context: %v, want context.Canceled, transient", err)
	}
	assertAbsent(t, e, "x.csv")
}

// TestAzcoreLogsRedactSignature confirms that azcore's request logging,
// when someone turns it on, prints sig=REDACTED (its default allow list
// has only api-version).
func TestAzcoreLogsRedactSignature(t *testing.T) {
	e := newEnv(t, true)
	s, sig := e.writeOnlySink(t, azuresink.Options{})
	var mu sync.Mutex
	var logs strings.Builder
	azlog.SetListener(func(ev azlog.Event, msg string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&logs, "%s: %s\n", ev, msg)
	})
	azlog.SetEvents(azlog.EventRequest, azlog.EventResponse, azlog.EventResponseError, azlog.EventRetryPolicy)
	t.Cleanup(func() { azlog.SetListener(nil) })

	if err := s.Upload(testenv.Context(t), "logged.csv", strings.NewReader("x"), sink.Object{}); err != nil {
		t.Fatal(err)
	}
	missing := newEnv(t, false)
	ms, msig := missing.writeOnlySink(t, azuresink.Options{})
	if err := ms.Upload(testenv.Context(t), "logged.csv", strings.NewReader("x"), sink.Object{}); err == nil {
		t.Fatal("upload to a missing container succeeded")
	}
	azlog.SetListener(nil)
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "sig=REDACTED") || !strings.Contains(out, "logged.csv") {
		t.Fatalf("azcore logged no request URL, the test proves nothing:\n%s", out)
	}
	assertNoSig(t, sig, out)
	assertNoSig(t, msig, out)
}

// TestEndToEndEncryptedSAS is the acceptance point: Azure delivery with a
// container SAS (create + write only) that was encrypted with the product
// doc's `openssl pkeyutl` command to the KMS key's public key.
func TestEndToEndEncryptedSAS(t *testing.T) {
	e := newEnv(t, true)
	kmsSrv := testenv.LocalKMS(t)
	// Default too: the SDK reads AWS_ENDPOINT_URL_KMS only when the client
	// is made, after AWSConfig restored the environment.
	client := kms.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: kmsSrv.URL, KMS: kmsSrv.URL}))
	keyID, pemPath := sastest.CreateKey(t, client)
	d := &sas.Decrypter{KMS: client, KeyIDs: map[sas.Residency]string{sas.EU: keyID}, Policy: e.policy()}
	ctx := testenv.Context(t)

	raw, sig := e.sasURL(t, createWrite, time.Now().Add(time.Hour))
	cipher := sastest.Encrypt(t, pemPath, raw)
	u, err := d.Decrypt(ctx, sas.EU, cipher)
	if err != nil {
		t.Fatalf("decrypt the customer's cipher: %v", err)
	}
	if u.Permissions() != "cw" {
		t.Fatalf("permissions = %q, want create and write only", u.Permissions())
	}
	s, err := azuresink.New(u, azuresink.Options{BlockSize: testBlockSize, Prefix: "contentful/"})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 2<<20+123)
	if _, err := rand.Read(want); err != nil {
		t.Fatal(err)
	}
	if err := s.Upload(ctx, "day.csv", bytes.NewReader(want), sink.Object{}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := e.get(ctx, "contentful/day.csv")
	if err != nil || !ok || !bytes.Equal(got, want) {
		t.Fatalf("read back: ok %v, %d bytes (want %d), equal %v, err %v", ok, len(got), len(want), bytes.Equal(got, want), err)
	}
	t.Logf("delivered %d bytes to %v", len(got), u)
	assertNoSig(t, sig, u.String(), fmt.Sprintf("%v %+v %#v", u, u, u))

	t.Run("Expired", func(t *testing.T) {
		expiry := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
		raw, sig := e.sasURL(t, createWrite, expiry)
		_, err := d.Decrypt(ctx, sas.EU, sastest.Encrypt(t, pemPath, raw))
		if err == nil || !errors.Is(err, sink.ErrInvalidConfig) || !strings.Contains(err.Error(), "SAS URL expired at "+expiry.Format(time.RFC3339)) {
			t.Fatalf("error = %v, want expired", err)
		}
		assertNoSig(t, sig, err.Error())
		t.Logf("refused: %v", err)
	})

	t.Run("HostNotAllowed", func(t *testing.T) {
		attacker := "https://attacker.example.com/" + e.container + raw[strings.Index(raw, "?"):]
		_, err := d.Decrypt(ctx, sas.EU, sastest.Encrypt(t, pemPath, attacker))
		if err == nil || !errors.Is(err, sink.ErrInvalidConfig) || !strings.Contains(err.Error(), `SAS host "attacker.example.com" is not an Azure Blob host`) {
			t.Fatalf("error = %v, want host refused", err)
		}
		assertNoSig(t, sig, err.Error())
		t.Logf("refused: %v", err)
	})
}

func assertAbsent(t *testing.T, e *env, name string) {
	t.Helper()
	_, ok, err := e.get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Fatalf("blob %s exists after a failed upload", name)
	}
}

// flakyTransport answers the first fail requests with 503 Server Busy
// itself and passes the rest to Azurite.
type flakyTransport struct {
	mu       sync.Mutex
	fail     int
	requests int
}

func (f *flakyTransport) Do(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.requests++
	busy := f.requests <= f.fail
	f.mu.Unlock()
	if busy {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Server Busy", Request: req,
			Header: http.Header{"X-Ms-Error-Code": {"ServerBusy"}}, Body: io.NopCloser(strings.NewReader(""))}, nil
	}
	return http.DefaultClient.Do(req)
}

// TestRetries: azblob's retry policy rides over transient failures, and
// when they persist the error is transient, not permanent.
func TestRetries(t *testing.T) {
	e := newEnv(t, true)
	fast := policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}
	body := make([]byte, testLargeSize)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}

	flaky := &flakyTransport{fail: 2}
	s, _ := e.writeOnlySink(t, azuresink.Options{BlockSize: testBlockSize, Concurrency: 1, Retry: fast, Transport: flaky})
	if err := s.Upload(testenv.Context(t), "flaky.csv", bytes.NewReader(body), sink.Object{}); err != nil {
		t.Fatalf("Upload with two 503s: %v", err)
	}
	got, ok, err := e.get(context.Background(), "flaky.csv")
	if err != nil || !ok || !bytes.Equal(got, body) {
		t.Fatalf("read back: ok %v, equal %v, err %v", ok, bytes.Equal(got, body), err)
	}
	// 4 blocks and a commit, plus the two refused tries.
	if flaky.requests != 7 {
		t.Errorf("%d requests, want 7", flaky.requests)
	}

	down := &flakyTransport{fail: 1 << 30}
	s, sig := e.writeOnlySink(t, azuresink.Options{BlockSize: testBlockSize, Retry: fast, Transport: down})
	err = s.Upload(testenv.Context(t), "down.csv", strings.NewReader("x"), sink.Object{})
	var ae *azuresink.Error
	if !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Code != "ServerBusy" || sink.IsPermanent(err) {
		t.Fatalf("Upload while Azure is busy: %v, want a transient 503 ServerBusy", err)
	}
	if down.requests != 3 {
		t.Errorf("%d tries, want 3 (MaxRetries 2)", down.requests)
	}
	assertNoSig(t, sig, err.Error())
	assertAbsent(t, e, "down.csv")
}

// BenchmarkUpload measures a 64 MiB upload to Azurite with the default
// block size and concurrency.
func BenchmarkUpload(b *testing.B) {
	srv := testenv.Azurite(b)
	name := testenv.UniqueName("bench")
	cred, err := container.NewSharedKeyCredential(devAccount, devKey)
	if err != nil {
		b.Fatal(err)
	}
	// The admin client reads back the stored bytes as they are: Go's
	// transport would otherwise ask for gzip and transparently decompress
	// a blob stored with Content-Encoding gzip.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	admin, err := container.NewClientWithSharedKeyCredential(srv.URL+"/"+devAccount+"/"+name, cred,
		&container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: tr}}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Create(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	qp, err := azsas.BlobSignatureValues{Protocol: azsas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour).UTC(),
		Permissions: createWrite.String(), ContainerName: name}.SignWithSharedKey(cred)
	if err != nil {
		b.Fatal(err)
	}
	u, err := sas.Parse(srv.URL+"/"+devAccount+"/"+name+"?"+qp.Encode(), time.Now(), sas.Policy{AllowedEmulatorHosts: []string{srv.Host}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := azuresink.New(u, azuresink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	b.SetBytes(size)
	for b.Loop() {
		if err := s.Upload(context.Background(), "bench.csv", &countingReader{n: size}, sink.Object{}); err != nil {
			b.Fatal(err)
		}
	}
}
