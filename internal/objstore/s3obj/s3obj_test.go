package s3obj_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/objstore"
	"github.com/contentful/auditlogs/internal/objstore/objtest"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
)

// TestAcceptance runs the suite on moto's S3, a new bucket per subtest.
func TestAcceptance(t *testing.T) {
	moto := testenv.StartMoto(t)
	cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	objtest.Run(t, func(t *testing.T) objstore.Bucket {
		name := testenv.UniqueName("lake")
		if _, err := client.CreateBucket(testenv.Context(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Fatalf("create bucket %s: %v", name, err)
		}
		return s3obj.New(client, name)
	})
}
