package memobj_test

import (
	"testing"

	"github.com/contentful/auditlogs/internal/objstore"
	"github.com/contentful/auditlogs/internal/objstore/memobj"
	"github.com/contentful/auditlogs/internal/objstore/objtest"
)

func TestAcceptance(t *testing.T) {
	objtest.Run(t, func(*testing.T) objstore.Bucket { return &memobj.Bucket{} })
}
