package grants

import (
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/sas"
)

// The constants the statements repeat are the ones the code uses.
func TestNamesAgreeWithTheCode(t *testing.T) {
	if ByTimeIndex != dynamostore.IndexByTime {
		t.Errorf("ByTimeIndex %q, the log store's index is %q", ByTimeIndex, dynamostore.IndexByTime)
	}
	if ShardCountKey != dynamostore.MetaPK {
		t.Errorf("ShardCountKey %q, the log store's record is %q", ShardCountKey, dynamostore.MetaPK)
	}
	for _, p := range [][2]string{{LakeRawPrefix, lake.RawPrefix}, {LakeOrgDayPrefix, lake.LakePrefix},
		{LakeManifestsPrefix, lake.ManifestPrefix}, {LakeExportPrefix, lake.ExportPrefix}} {
		if p[0] != p[1] {
			t.Errorf("lake prefix %q in the grants, %q in the lake's layout", p[0], p[1])
		}
	}
	if DecryptAlgorithm != string(sas.Algorithm) {
		t.Errorf("DecryptAlgorithm %q, sas decrypts with %q", DecryptAlgorithm, sas.Algorithm)
	}
}

func TestStatementsAreWellFormed(t *testing.T) {
	for _, id := range Identities {
		sts := For(id)
		if len(sts) == 0 {
			t.Errorf("%s: no statements", id)
		}
		sids := map[string]bool{}
		for _, st := range sts {
			if st.Sid == "" || sids[st.Sid] {
				t.Errorf("%s: Sid %q empty or repeated (a policy document needs them unique)", id, st.Sid)
			}
			sids[st.Sid] = true
			if st.Effect != Allow && st.Effect != Deny {
				t.Errorf("%s %s: effect %q", id, st.Sid, st.Effect)
			}
			if len(st.Actions) == 0 || len(st.Resources) == 0 {
				t.Errorf("%s %s: no actions or no resources", id, st.Sid)
			}
			for _, a := range st.Actions {
				if strings.Contains(a, "*") || !strings.Contains(a, ":") {
					t.Errorf("%s %s: action %q is a wildcard or has no service", id, st.Sid, a)
				}
			}
			for _, r := range st.Resources {
				if r.Name == "" {
					t.Errorf("%s %s: a resource without a name", id, st.Sid)
				}
				if r.Name == LogGroup && id == Operator {
					t.Errorf("the operators have no log group of their own")
				}
			}
		}
	}
}

// Whoever may assume customers' roles is denied this account's own.
func TestAssumeRoleAlwaysWithTheDeny(t *testing.T) {
	for _, id := range Identities {
		var assumes, denies bool
		for _, st := range For(id) {
			for _, a := range st.Actions {
				if a != "sts:AssumeRole" {
					continue
				}
				for _, r := range st.Resources {
					assumes = assumes || (st.Effect == Allow && r.Name == CustomerRoles)
					denies = denies || (st.Effect == Deny && r.Name == OwnAccountRoles)
				}
			}
		}
		if assumes != denies {
			t.Errorf("%s: allows customer roles %t, denies own-account roles %t", id, assumes, denies)
		}
	}
}

func TestUnknownIdentityPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("For of an unknown identity did not panic")
		}
	}()
	For("nobody")
}

// s3On lists "action path" for every S3 action an identity is allowed on
// the lake bucket.
func s3On(id Identity) map[string]bool {
	got := map[string]bool{}
	for _, st := range For(id) {
		for _, r := range st.Resources {
			if r.Name != LakeBucket || st.Effect != Allow {
				continue
			}
			for _, a := range st.Actions {
				key := a + " " + r.Path
				if c := st.Condition["StringLike"]["s3:prefix"]; c != "" || a == "s3:ListBucket" {
					key += " prefix=" + c
				}
				got[key] = true
			}
		}
	}
	return got
}

// Least privilege on the lake: the delivery reads compacted org-days and
// their files, never raw objects, and writes nothing; the compaction
// reads raw/ and lake/ and writes lake/ and export/ only, deleting
// nothing; the ingest reaches the lake only through the stream; the
// fan-out not at all.
func TestLakeGrants(t *testing.T) {
	want := map[Identity][]string{
		Export: {"s3:GetObject /lake/*", "s3:GetObject /export/*", "s3:ListBucket  prefix=lake/manifests/*"},
		Retry:  {"s3:GetObject /lake/*", "s3:GetObject /export/*", "s3:ListBucket  prefix=lake/manifests/*"},
		Compact: {"s3:ListBucket  prefix=raw/*", "s3:ListBucket  prefix=lake/manifests/*", "s3:GetObject /raw/*", "s3:GetObject /lake/*",
			"s3:PutObject /lake/*", "s3:PutObject /export/*", "s3:AbortMultipartUpload /lake/*", "s3:AbortMultipartUpload /export/*"},
		Ingest: nil,
		FanOut: nil,
	}
	for id, w := range want {
		got := s3On(id)
		for _, k := range w {
			if !got[k] {
				t.Errorf("%s: %q not granted", id, k)
			}
			delete(got, k)
		}
		for k := range got {
			t.Errorf("%s: %q granted beyond what it needs", id, k)
		}
	}
	var stream bool
	for _, st := range For(Ingest) {
		for _, r := range st.Resources {
			if r.Name == LakeStream {
				stream = stream || strings.Join(st.Actions, ",") == "firehose:PutRecordBatch"
			}
		}
	}
	if !stream {
		t.Error("the ingest may not put records to the lake's stream")
	}
}
