package memstore_test

import (
	"testing"

	"github.com/contentful/auditlogs/internal/logstore/memstore"
	"github.com/contentful/auditlogs/internal/logstore/storetest"
)

func TestAcceptance(t *testing.T) {
	storetest.RunReadWriter(t, func(*testing.T) storetest.ReadWriter { return memstore.New() })
}
