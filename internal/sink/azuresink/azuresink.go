// Package azuresink delivers files to a customer's Azure Blob container
// through a container SAS URL (create and write permissions only).
//
// Upload streams through azblob's UploadStream: the body is cut into
// blocks of BlockSize, at most Concurrency blocks are in memory and in
// flight, each is staged (uncommitted blocks are invisible), and the block
// list is committed only after the source reported io.EOF. A body smaller
// than one block goes up in one Put Blob after it has been read completely.
// So a failing source or a canceled context never makes a partial blob
// visible, and a previous complete blob of the same name stays as it was;
// the uncommitted blocks are discarded by Azure after a week.
//
// The SAS is a secret. It is handed to the SDK once (sas.URL.Reveal) and
// never appears in what this package returns: errors are rebuilt from the
// status, Azure's error code and the blob name (see Error), and azcore's own
// logging redacts every query parameter but api-version, sig included.
// Every way of printing a Sink (fmt's verbs, JSON, slog) gives where it
// writes, never the SAS (redact.go).
//
// Of this module azuresink imports only sink (the interface it implements)
// and sas (the URL it writes with). It must not import the opener, the
// registry, internal/app, the export or another provider: they sit above
// it or beside it.
package azuresink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink"
)

// ContentType is the Content-Type of a blob whose sink.Object leaves it
// empty: sink.DefaultContentType, the same as the S3 sink's.
const ContentType = sink.DefaultContentType

const (
	// DefaultBlockSize is the block size when Options leaves it 0.
	DefaultBlockSize = 8 << 20
	// MinBlockSize is azblob's smallest UploadStream buffer; smaller
	// settings are raised to it (by azblob, and here so Sink reports it).
	MinBlockSize = 1 << 20
	// MaxBlockSize is Azure's largest block; larger settings are lowered.
	MaxBlockSize = blockblob.MaxStageBlockBytes
	// DefaultConcurrency is the number of blocks in flight when Options
	// leaves it 0. Memory per upload is about BlockSize * Concurrency.
	DefaultConcurrency = 4
	// MaxBlobNameLen is Azure's limit on a blob name.
	MaxBlobNameLen = 1024
)

// DefaultRetry is the retry policy of every request (stage block, commit,
// put blob), used for the fields Options.Retry leaves zero. Retried: 408,
// 429, 500, 502, 503, 504 and network errors, with exponential back-off;
// a Retry-After header is honoured. One try is bounded by TryTimeout,
// ample for an 8 MiB block at a slow 100 KiB/s.
var DefaultRetry = policy.RetryOptions{
	MaxRetries:    4,
	TryTimeout:    2 * time.Minute,
	RetryDelay:    time.Second,
	MaxRetryDelay: 30 * time.Second,
}

// Options tunes uploads. The zero value is ready to use.
type Options struct {
	// BlockSize is the size of one staged block: DefaultBlockSize if 0,
	// clamped to [MinBlockSize, MaxBlockSize].
	BlockSize int64
	// Concurrency is the number of blocks read ahead and sent at once:
	// DefaultConcurrency if 0 or negative.
	Concurrency int
	// Prefix is prepended to every blob name.
	Prefix string
	// Retry overrides fields of DefaultRetry (a negative MaxRetries means
	// no retry, as in azcore).
	Retry policy.RetryOptions
	// Transport replaces the HTTP client, for tests.
	Transport policy.Transporter
}

// Sink uploads to one container.
type Sink struct {
	client      *container.Client
	account     string
	container   string
	expiry      time.Time
	prefix      string
	blockSize   int64
	concurrency int
	// secrets are the forms of the signature and the SAS query that
	// scrub removes from messages, on top of removing every query (see
	// the type for why they are not a plain []string). The client holds
	// the SAS too, behind a pointer to a struct of the SDK's, and every
	// way of printing a Sink prints its description instead (redact.go).
	secrets secrets
}

var _ sink.Sink = (*Sink)(nil)

// New returns a Sink that writes to the container of u.
func New(u *sas.URL, opts Options) (*Sink, error) {
	if u == nil || u.Reveal() == "" {
		return nil, fmt.Errorf("azuresink: no SAS URL: %w", sink.ErrInvalidConfig)
	}
	s := &Sink{
		account:     u.Account(),
		container:   u.Container(),
		expiry:      u.Expiry(),
		prefix:      opts.Prefix,
		blockSize:   opts.BlockSize,
		concurrency: opts.Concurrency,
	}
	s.blockSize = sink.PartSize(s.blockSize, DefaultBlockSize, MinBlockSize, MaxBlockSize)
	if s.concurrency <= 0 {
		s.concurrency = DefaultConcurrency
	}
	if pu, err := url.Parse(u.Reveal()); err == nil {
		sig := pu.Query().Get("sig")
		s.secrets = newSecrets(pu.RawQuery, sig, url.QueryEscape(sig), url.PathEscape(sig))
	}

	retry := DefaultRetry
	if opts.Retry.MaxRetries != 0 {
		retry.MaxRetries = opts.Retry.MaxRetries
	}
	if opts.Retry.TryTimeout != 0 {
		retry.TryTimeout = opts.Retry.TryTimeout
	}
	if opts.Retry.RetryDelay != 0 {
		retry.RetryDelay = opts.Retry.RetryDelay
	}
	if opts.Retry.MaxRetryDelay != 0 {
		retry.MaxRetryDelay = opts.Retry.MaxRetryDelay
	}
	if opts.Retry.StatusCodes != nil {
		retry.StatusCodes = opts.Retry.StatusCodes
	}
	client, err := container.NewClientWithNoCredential(u.Reveal(), &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: retry,
		// Logging keeps azcore's default: every query parameter but
		// api-version is logged as REDACTED, so sig never reaches a log.
		Logging:         policy.LogOptions{},
		PerCallPolicies: []policy.Policy{failFast{}},
		Transport:       opts.Transport,
	}})
	if err != nil {
		return nil, fmt.Errorf("azuresink: client for %s/%s: %w", s.account, s.container, scrub(err, s.secrets.list()))
	}
	s.client = client
	return s, nil
}

// Upload streams r to the blob Prefix+name, with o's Content-Type
// (ContentType if empty), Content-Encoding and user metadata (see the
// package comment for why nothing partial becomes visible). Metadata that
// fails sink.ValidateMetadata is refused before r is read.
func (s *Sink) Upload(ctx context.Context, name string, r io.Reader, o sink.Object) error {
	blobName := s.prefix + name
	switch {
	case name == "":
		return fmt.Errorf("azuresink: empty blob name")
	case len(blobName) > MaxBlobNameLen:
		return fmt.Errorf("azuresink: blob name %.64q… is %d bytes, longer than Azure's %d", blobName, len(blobName), MaxBlobNameLen)
	case !utf8.ValidString(blobName):
		return fmt.Errorf("azuresink: blob name %q is not valid UTF-8", blobName)
	}
	if err := sink.ValidateMetadata(o.Metadata); err != nil {
		return fmt.Errorf("azuresink: upload %s/%s/%s: %w", s.account, s.container, blobName, err)
	}
	// Azure would refuse with a bare 403; say why, without a round trip.
	if !time.Now().Before(s.expiry) {
		return fmt.Errorf("azure: upload %s/%s/%s: %w", s.account, s.container, blobName, sas.ExpiredError(s.expiry))
	}

	st := &uploadState{}
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st.cancel = cancel
	uctx = context.WithValue(uctx, uploadKey{}, st)
	src := &source{ctx: uctx, r: r}

	_, err := s.client.NewBlockBlobClient(blobName).UploadStream(uctx, src, &blockblob.UploadStreamOptions{
		BlockSize:   s.blockSize,
		Concurrency: s.concurrency,
		// UploadStream puts both on the one Put Blob of a small body and
		// on the Put Block List that commits a large one, and so on the
		// blob either way (staged blocks carry neither).
		HTTPHeaders: headers(o),
		Metadata:    metadata(o.Metadata),
	})
	if err == nil {
		return nil
	}
	switch {
	case src.err != nil:
		// The source's own error, as the Sink contract asks; it comes from
		// our side and holds no SAS.
		return fmt.Errorf("azure: upload %s/%s/%s: read source: %w", s.account, s.container, blobName, src.err)
	case ctx.Err() != nil:
		return &Error{Account: s.account, Container: s.container, Blob: blobName, cause: ctx.Err()}
	}
	if f := st.first(); f != nil {
		return s.fromFailure(blobName, f)
	}
	return s.classify(blobName, err)
}

func ptr[T any](v T) *T { return &v }

// headers are the blob's Content-Type and, if o has one, Content-Encoding.
func headers(o sink.Object) *blob.HTTPHeaders {
	h := &blob.HTTPHeaders{BlobContentType: ptr(o.ContentTypeOrDefault())}
	if o.ContentEncoding != "" {
		h.BlobContentEncoding = ptr(o.ContentEncoding)
	}
	return h
}

// metadata is m in the SDK's form, nil if m is empty.
func metadata(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = ptr(v)
	}
	return out
}

// source reads the body for UploadStream and stops as soon as the upload
// is doomed. UploadStream keeps reading its source to the end even after a
// block failed for good (it only cancels the other requests), which for a
// day's file means reading gigabytes from the log store for nothing; the
// failFast policy cancels ctx instead, and the next Read returns.
type source struct {
	ctx context.Context
	r   io.Reader
	err error // the source's own failure, not io.EOF and not our stop
}

var errStopped = errors.New("azuresink: upload failed, source no longer read")

func (s *source) Read(p []byte) (int, error) {
	if s.ctx.Err() != nil {
		return 0, errStopped
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

type uploadKey struct{}

// uploadState is shared by one Upload and its requests.
type uploadState struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	failed *failure
}

// failure is what failFast records about the first request that failed
// for good (after azcore's retries), before UploadStream reports it.
type failure struct {
	status    int
	code      string
	requestID string
	err       error // transport error, unscrubbed: only ever passed to scrub
}

func (u *uploadState) fail(f *failure) {
	u.mu.Lock()
	if u.failed == nil {
		u.failed = f
	}
	u.mu.Unlock()
	u.cancel()
}

func (u *uploadState) first() *failure {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.failed
}

func (s *Sink) fromFailure(blobName string, f *failure) *Error {
	if f.err != nil {
		return &Error{Account: s.account, Container: s.container, Blob: blobName, cause: scrub(f.err, s.secrets.list())}
	}
	return &Error{Account: s.account, Container: s.container, Blob: blobName,
		StatusCode: f.status, Code: f.code, RequestID: f.requestID, kind: kindOf(f.status, f.code)}
}

// failFast is a per-call policy: it runs once per operation, outside the
// retry policy, so it sees only final outcomes. A failed stage block, put
// blob or commit ends the upload, so it records the failure and cancels
// the upload's context, which stops the source being read.
type failFast struct{}

func (failFast) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	st, ok := req.Raw().Context().Value(uploadKey{}).(*uploadState)
	if !ok {
		return resp, err
	}
	switch {
	case err != nil:
		st.fail(&failure{err: err})
	case resp.StatusCode >= 400:
		st.fail(&failure{status: resp.StatusCode, code: resp.Header.Get("x-ms-error-code"), requestID: resp.Header.Get("x-ms-request-id")})
	}
	return resp, err
}
