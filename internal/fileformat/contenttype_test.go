package fileformat_test

import (
	"testing"

	"github.com/contentful/auditlogs/internal/fileformat"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// The CSV keeps the Content-Type its objects had before there was a
// choice of format.
func TestCSVContentTypeIsTheSinks(t *testing.T) {
	if got := fileformat.CSV.ContentType(); got != s3sink.ContentType {
		t.Fatalf("csv Content-Type = %q, s3sink sets %q", got, s3sink.ContentType)
	}
}
