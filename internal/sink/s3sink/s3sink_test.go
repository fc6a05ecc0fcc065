package s3sink_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
	"github.com/contentful/auditlogs/internal/sink/sinktest"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const partSize = s3sink.MinPartSize

// motoClient returns an S3 client on the shared moto and a fresh bucket.
func motoClient(t *testing.T, optFns ...func(*s3.Options)) (*s3.Client, string) {
	t.Helper()
	moto := testenv.Moto(t)
	cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})
	client := s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.UsePathStyle = true
		// Reading back a multipart object cannot validate its composite
		// checksum; the SDK would log that on every read.
		o.DisableLogOutputChecksumValidationSkipped = true
	}}, optFns...)...)
	bucket := testenv.UniqueName("s3sink")
	if _, err := client.CreateBucket(testenv.Context(t), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return client, bucket
}

// getter and lister read back around the Sink, with a plain client.
func getter(client *s3.Client, bucket string) func(ctx context.Context, name string) ([]byte, bool, error) {
	return func(ctx context.Context, name string) ([]byte, bool, error) {
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(name)})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey" {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return b, err == nil, err
	}
}

// header reads back an object's Content-Type, Content-Encoding and user
// metadata (the SDK gives the names lowercased).
func header(client *s3.Client, bucket string) func(ctx context.Context, name string) (sink.Object, bool, error) {
	return func(ctx context.Context, name string) (sink.Object, bool, error) {
		out, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(name)})
		var nf *types.NotFound
		if errors.As(err, &nf) {
			return sink.Object{}, false, nil
		}
		if err != nil {
			return sink.Object{}, false, err
		}
		return sink.Object{ContentType: aws.ToString(out.ContentType), ContentEncoding: aws.ToString(out.ContentEncoding), Metadata: out.Metadata}, true, nil
	}
}

func lister(client *s3.Client, bucket string) func(ctx context.Context, prefix string) ([]string, error) {
	return func(ctx context.Context, prefix string) ([]string, error) {
		var names []string
		p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, o := range page.Contents {
				names = append(names, aws.ToString(o.Key))
			}
		}
		return names, nil
	}
}

// pendingUploads lists the multipart uploads that were neither completed
// nor aborted.
func pendingUploads(t *testing.T, client *s3.Client, bucket string) []string {
	t.Helper()
	out, err := client.ListMultipartUploads(testenv.Context(t), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

func TestAcceptance(t *testing.T) {
	client, bucket := motoClient(t)
	s := s3sink.New(client, bucket, s3sink.Options{PartSize: partSize})
	sinktest.Run(t, "audit/", sinktest.Target{
		Sink:      s,
		Get:       getter(client, bucket),
		List:      lister(client, bucket),
		Head:      header(client, bucket),
		LargeSize: 11 << 20, // three parts of 5 MiB
	})
	// The failing-source and canceled subtests must have aborted their
	// multipart uploads: pending parts are invisible, but the customer
	// pays for them.
	if keys := pendingUploads(t, client, bucket); len(keys) != 0 {
		t.Errorf("multipart uploads left pending after the suite: %v", keys)
	}
}

// opRecorder records the S3 operations a client sends.
type opRecorder struct {
	mu  sync.Mutex
	ops []string
}

func (r *opRecorder) install(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("recordOp",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				r.mu.Lock()
				r.ops = append(r.ops, middleware.GetOperationName(ctx))
				r.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

func (r *opRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

type failAfter struct {
	r   io.Reader
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestFailingSourceRequests checks what reaches S3 when the source fails:
// nothing at all for a body smaller than a part (a PutObject with a
// truncated body would replace a good object), and an aborted multipart
// upload, never completed, for a larger one.
func TestFailingSourceRequests(t *testing.T) {
	var rec opRecorder
	client, bucket := motoClient(t, rec.install)
	rec.take() // CreateBucket
	s := s3sink.New(client, bucket, s3sink.Options{PartSize: partSize, Concurrency: 2})
	boom := errors.New("source failed")
	ctx := testenv.Context(t)

	for _, tc := range []struct {
		name    string
		size    int
		want    []string
		notWant []string
	}{
		{"small", 1000, nil, []string{"PutObject"}},
		{"almost one part", partSize - 1, nil, []string{"PutObject"}},
		{"after parts", 2*partSize + 10, []string{"CreateMultipartUpload", "AbortMultipartUpload"}, []string{"PutObject", "CompleteMultipartUpload"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Upload(ctx, "fail.csv", &failAfter{bytes.NewReader(make([]byte, tc.size)), boom}, sink.Object{})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want it to wrap %v", err, boom)
			}
			if sink.IsPermanent(err) {
				t.Errorf("a failing source is classified permanent: %v", err)
			}
			ops := rec.take()
			for _, op := range tc.want {
				if !slices.Contains(ops, op) {
					t.Errorf("operations %v lack %s", ops, op)
				}
			}
			for _, op := range tc.notWant {
				if slices.Contains(ops, op) {
					t.Errorf("operations %v include %s", ops, op)
				}
			}
			if tc.want == nil && len(ops) != 0 {
				t.Errorf("operations %v, want none", ops)
			}
			if keys := pendingUploads(t, client, bucket); len(keys) != 0 {
				t.Errorf("pending multipart uploads: %v", keys)
			}
			rec.take() // our own ListMultipartUploads
		})
	}
}

// TestObjectOnBothPaths checks what the suite cannot see: the Object's
// headers and metadata reach the object on the path it took, one
// PutObject for a small body and a multipart upload for a large one.
func TestObjectOnBothPaths(t *testing.T) {
	var rec opRecorder
	client, bucket := motoClient(t, rec.install)
	s := s3sink.New(client, bucket, s3sink.Options{PartSize: partSize})
	o := sink.Object{ContentType: "application/x-ndjson", ContentEncoding: "gzip",
		Metadata: map[string]string{"org": "org1", "sha256": strings.Repeat("ab", 32)}}
	for _, tc := range []struct {
		name string
		size int
		op   string
	}{{"small.csv", 10, "PutObject"}, {"large.csv", 2*partSize + 1, "CreateMultipartUpload"}} {
		rec.take()
		if err := s.Upload(testenv.Context(t), tc.name, bytes.NewReader(make([]byte, tc.size)), o); err != nil {
			t.Fatal(err)
		}
		if ops := rec.take(); !slices.Contains(ops, tc.op) {
			t.Fatalf("%s: operations %v lack %s: the path was not exercised", tc.name, ops, tc.op)
		}
		got, ok, err := header(client, bucket)(testenv.Context(t), tc.name)
		if err != nil || !ok {
			t.Fatalf("%s: head: %v, exists %v", tc.name, err, ok)
		}
		if got.ContentType != o.ContentType || got.ContentEncoding != o.ContentEncoding || !maps.Equal(got.Metadata, o.Metadata) {
			t.Errorf("%s: stored %+v, want %+v", tc.name, got, o)
		}
	}
}

// TestCanceledAbortsUpload: a context canceled during a multipart upload
// still aborts it (the abort runs on a fresh context).
func TestCanceledAbortsUpload(t *testing.T) {
	var rec opRecorder
	client, bucket := motoClient(t, rec.install)
	s := s3sink.New(client, bucket, s3sink.Options{PartSize: partSize})
	ctx, cancel := context.WithCancel(testenv.Context(t))
	r := &cancelingReader{r: bytes.NewReader(make([]byte, 3*partSize)), after: 2 * partSize, cancel: cancel}
	err := s.Upload(ctx, "canceled.csv", r, sink.Object{})
	if err == nil {
		t.Fatal("Upload succeeded although its context was canceled")
	}
	if ops := rec.take(); !slices.Contains(ops, "CreateMultipartUpload") {
		t.Fatalf("operations %v: the multipart path was not exercised", ops)
	}
	if keys := pendingUploads(t, client, bucket); len(keys) != 0 {
		t.Errorf("pending multipart uploads after cancel: %v", keys)
	}
}

// cancelingReader cancels the upload's context after some bytes but keeps
// delivering data, as a source that does not watch the context would.
type cancelingReader struct {
	r      io.Reader
	after  int
	read   int
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	if c.read >= c.after {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func TestPrefix(t *testing.T) {
	client, bucket := motoClient(t)
	s := s3sink.New(client, bucket, s3sink.Options{Prefix: "org-1/audit/"})
	if err := s.Upload(testenv.Context(t), "2026-11-24.csv", strings.NewReader("a,b\r\n"), sink.Object{}); err != nil {
		t.Fatal(err)
	}
	names, err := lister(client, bucket)(testenv.Context(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"org-1/audit/2026-11-24.csv"}) {
		t.Errorf("objects = %v, want [org-1/audit/2026-11-24.csv]", names)
	}
}

func TestMissingBucket(t *testing.T) {
	client, _ := motoClient(t)
	missing := testenv.UniqueName("missing")
	s := s3sink.New(client, missing, s3sink.Options{PartSize: partSize})
	for _, tc := range []struct {
		name string
		size int
	}{{"single part", 10}, {"multipart", partSize + 1}} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Upload(testenv.Context(t), "day.csv", bytes.NewReader(make([]byte, tc.size)), sink.Object{})
			if !errors.Is(err, sink.ErrNotFound) {
				t.Fatalf("err = %v, want sink.ErrNotFound", err)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchBucket" {
				t.Errorf("err = %v, want it to wrap the SDK's NoSuchBucket", err)
			}
			if !strings.Contains(err.Error(), "s3://"+missing+"/day.csv") {
				t.Errorf("error %q does not name the bucket and key", err)
			}
		})
	}
}

// ownerRecorder is an HTTP client that records, for every request a
// client sends, its operation and its x-amz-expected-bucket-owner header.
type ownerRecorder struct {
	mu   sync.Mutex
	sent []sentRequest
}

type sentRequest struct{ op, owner string }

func (r *ownerRecorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.sent = append(r.sent, sentRequest{op: middleware.GetOperationName(req.Context()), owner: req.Header.Get("X-Amz-Expected-Bucket-Owner")})
	r.mu.Unlock()
	return http.DefaultClient.Do(req)
}

func (r *ownerRecorder) take() []sentRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sent
	r.sent = nil
	return s
}

// TestExpectedBucketOwnerOnEveryWrite: every request a Sink sends carries
// the bucket owner as ExpectedBucketOwner, for a single PutObject, a
// multipart upload and a failed one (the transfer manager's abort and the
// sink's own). moto 5.2.1 ignores the header (its S3 has no bucket owner
// condition), so the test records what is sent on the wire instead of
// relying on moto to refuse: S3 answers 403 AccessDenied to any of these
// requests when the header names another account than the bucket's owner.
func TestExpectedBucketOwnerOnEveryWrite(t *testing.T) {
	const owner = "123456789012" // moto's account, which owns the bucket
	rec := &ownerRecorder{}
	client, bucket := motoClient(t, func(o *s3.Options) { o.HTTPClient = rec })
	rec.take() // CreateBucket
	s := s3sink.New(client, bucket, s3sink.Options{PartSize: partSize, Concurrency: 2, BucketOwner: owner})
	ctx := testenv.Context(t)

	for _, tc := range []struct {
		name string
		body io.Reader
		ops  []string // each sent at least once
	}{
		{"single part", strings.NewReader("a,b\r\n"), []string{"PutObject"}},
		{"multipart", bytes.NewReader(make([]byte, 2*partSize+10)), []string{"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}},
		{"failed multipart", &failAfter{bytes.NewReader(make([]byte, 2*partSize+10)), errors.New("source failed")}, []string{"CreateMultipartUpload", "AbortMultipartUpload"}}, // its parts may be canceled before they are sent
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Upload(ctx, "owner.csv", tc.body, sink.Object{})
			if (err != nil) != (tc.name == "failed multipart") {
				t.Fatalf("Upload: %v", err)
			}
			sent := rec.take()
			seen := map[string]int{}
			for _, r := range sent {
				seen[r.op]++
				if r.owner != owner {
					t.Errorf("%s sent ExpectedBucketOwner %q, want %q", r.op, r.owner, owner)
				}
			}
			for _, op := range tc.ops {
				if seen[op] == 0 {
					t.Errorf("requests %v lack %s", seen, op)
				}
			}
			// The transfer manager aborts, and the sink aborts again to
			// be sure: both requests carry the owner.
			if tc.name == "failed multipart" && seen["AbortMultipartUpload"] < 2 {
				t.Errorf("AbortMultipartUpload sent %d times, want the transfer manager's and the sink's", seen["AbortMultipartUpload"])
			}
		})
	}
	// Without an owner (New's callers that do not check one) the header
	// is not sent, so the recorder does see its absence.
	plain := s3sink.New(client, bucket, s3sink.Options{})
	if err := plain.Upload(ctx, "plain.csv", strings.NewReader("x"), sink.Object{}); err != nil {
		t.Fatal(err)
	}
	if sent := rec.take(); len(sent) != 1 || sent[0].owner != "" {
		t.Errorf("without an owner: sent %+v, want one PutObject without the header", sent)
	}
}
