package grants

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/signing"
)

// The constants the statements repeat are the ones the code uses.
func TestNamesAgreeWithTheCode(t *testing.T) {
	if DecryptAlgorithm != string(sas.Algorithm) {
		t.Errorf("DecryptAlgorithm %q, sas decrypts with %q", DecryptAlgorithm, sas.Algorithm)
	}
	if SigningAlgorithm != signing.Algorithm || SigningMessageType != string(types.MessageTypeDigest) {
		t.Errorf("SigningAlgorithm %q and %s, signing signs %s with %q", SigningAlgorithm, SigningMessageType, types.MessageTypeDigest, signing.Algorithm)
	}
	if LakeRawPrefix != lake.RawPrefix || LakeOrgDayPrefix != lake.LakePrefix || LakeExportPrefix != lake.ExportPrefix {
		t.Errorf("lake prefixes %q %q %q, the lake's are %q %q %q", LakeRawPrefix, LakeOrgDayPrefix, LakeExportPrefix, lake.RawPrefix, lake.LakePrefix, lake.ExportPrefix)
	}
	if !strings.HasPrefix(lake.ManifestPrefix, LakeOrgDayPrefix) {
		t.Errorf("the manifests (%s) are not under %s, which the lake's readers may list", lake.ManifestPrefix, LakeOrgDayPrefix)
	}
}

func TestStatementsAreWellFormed(t *testing.T) {
	for _, id := range Identities {
		checkWellFormed(t, id, For(id))
	}
}

func checkWellFormed(t *testing.T, id Identity, sts []Statement) {
	t.Helper()
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

// Whoever may assume customers' roles is denied this account's own.
func TestAssumeRoleAlwaysWithTheDeny(t *testing.T) {
	for _, id := range Identities {
		checkAssumeWithDeny(t, id, For(id))
	}
}

func checkAssumeWithDeny(t *testing.T, id Identity, sts []Statement) {
	t.Helper()
	var assumes, denies bool
	for _, st := range sts {
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

func TestUnknownIdentityPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("For of an unknown identity did not panic")
		}
	}()
	For("nobody")
}

// TestIdentities: every function is an identity, the compaction function
// and the API among them (the local stack creates a user for each identity), and the
// operators are no function.
func TestIdentities(t *testing.T) {
	want := []Identity{FanOut, Export, Retry, Ingest, Compact, API}
	if !slices.Equal(Functions, want) || !slices.Equal(Identities, append(slices.Clone(want), Operator)) {
		t.Errorf("Functions %v, Identities %v: want the functions %v, then the operators", Functions, Identities, want)
	}
}

// rendered is a statement as one line: effect, sorted actions, resources
// (name+path) and condition.
func rendered(st Statement) string {
	actions := slices.Sorted(slices.Values(st.Actions))
	var rs []string
	for _, r := range st.Resources {
		rs = append(rs, string(r.Name)+r.Path)
	}
	slices.Sort(rs)
	out := fmt.Sprintf("%s %s on %s", st.Effect, strings.Join(actions, ","), strings.Join(rs, ","))
	if len(st.Condition) > 0 {
		out += fmt.Sprint(" if ", st.Condition)
	}
	return out
}

func renderAll(sts []Statement) []string {
	var out []string
	for _, st := range sts {
		out = append(out, rendered(st))
	}
	slices.Sort(out)
	return out
}

// TestLakeStatements: what each identity may do to the lake and the
// stream, statement for statement; and no DynamoDB action on anything but
// the registry and the ledger (the log store has no table).
func TestLakeStatements(t *testing.T) {
	listUnder := func(prefix string) string {
		return "Allow s3:ListBucket on lake-bucket if map[StringLike:map[s3:prefix:" + prefix + "*]]"
	}
	readLake := []string{
		"Allow s3:GetObject on lake-bucket/export/*,lake-bucket/lake/*",
		listUnder("lake/"), listUnder("export/"),
	}
	compaction := []string{
		listUnder("raw/"), listUnder("lake/"),
		"Allow s3:GetObject on lake-bucket/lake/*,lake-bucket/raw/*",
		"Allow s3:AbortMultipartUpload,s3:PutObject on lake-bucket/export/*,lake-bucket/lake/*",
	}
	onLake := func(sts []Statement) []string { // the statements on the lake or the stream
		var out []Statement
		for _, st := range sts {
			if slices.ContainsFunc(st.Resources, func(r Resource) bool {
				return r.Name == LakeBucket || r.Name == LakeStream
			}) {
				out = append(out, st)
			}
		}
		return renderAll(out)
	}
	want := map[Identity][]string{
		Export: readLake,
		Retry:  readLake,
		Ingest: {"Allow firehose:PutRecordBatch on lake-stream"},
		FanOut: nil,
		// export and backfill read; events load, ingest, ingest replay
		// write through the stream; compact compacts.
		Operator: append(append(slices.Clone(readLake), "Allow firehose:PutRecordBatch on lake-stream"),
			listUnder("raw/"), "Allow s3:GetObject on lake-bucket/lake/*,lake-bucket/raw/*",
			"Allow s3:AbortMultipartUpload,s3:PutObject on lake-bucket/export/*,lake-bucket/lake/*"),
		Compact: compaction,
		// The audit events of its own changes, as the ingest writes them.
		API: {"Allow firehose:PutRecordBatch on lake-stream"},
	}
	for _, id := range Identities {
		w := slices.Clone(want[id])
		slices.Sort(w)
		if got := onLake(For(id)); !reflect.DeepEqual(got, w) {
			t.Errorf("%s on the lake:\n got %q\nwant %q", id, got, w)
		}
		for _, st := range For(id) {
			for _, a := range st.Actions {
				if a == "s3:DeleteObject" || strings.HasPrefix(a, "dynamodb:") && slices.ContainsFunc(st.Resources, func(r Resource) bool {
					return r.Name != RegistryTable && r.Name != LedgerTable
				}) {
					t.Errorf("%s %s: %s", id, st.Sid, a)
				}
			}
		}
	}
	// The compaction function: the lake, its logs and the ledger's stale
	// marks (ledger.MarkStale), nothing else.
	got := renderAll(For(Compact))
	w := append(slices.Clone(compaction), "Allow logs:CreateLogStream,logs:PutLogEvents on own-log-group", "Allow dynamodb:UpdateItem on ledger-table")
	slices.Sort(w)
	if !reflect.DeepEqual(got, w) {
		t.Errorf("compact:\n got %q\nwant %q", got, w)
	}
}

// TestOnlyDeliveriesSign: kms:Sign is the export's and the retry's
// alone, on the signing key only, with the one algorithm and digests
// only; everyone who signs may read the key's public half.
func TestOnlyDeliveriesSign(t *testing.T) {
	for _, id := range Identities {
		var signs, reads bool
		for _, st := range For(id) {
			for _, a := range st.Actions {
				if !strings.HasPrefix(a, "kms:") {
					continue
				}
				onSigning := slices.ContainsFunc(st.Resources, func(r Resource) bool { return r.Name == SigningKey })
				switch {
				case a == "kms:Sign":
					signs = true
					if !onSigning || len(st.Resources) != 1 || !reflect.DeepEqual(st.Condition, SigningCondition) {
						t.Errorf("%s %s: kms:Sign on %v if %v, want the signing key only if %v", id, st.Sid, st.Resources, st.Condition, SigningCondition)
					}
				case onSigning && a != "kms:GetPublicKey" && a != "kms:DescribeKey":
					t.Errorf("%s %s: %s on the signing key", id, st.Sid, a)
				case onSigning && a == "kms:GetPublicKey":
					reads = true
				}
			}
		}
		if want := id == Export || id == Retry; signs != want {
			t.Errorf("%s: may sign %t, want %t", id, signs, want)
		}
		if want := id == Export || id == Retry || id == Operator || id == API; reads != want {
			t.Errorf("%s: may read the signing key's public half %t, want %t", id, reads, want)
		}
	}
}

// TestAPIStatements: the HTTP API's statements, one for one. It stores
// and removes destinations (registry.PutShared and DeleteExisting: reads,
// then transactions of UpdateItems and a DeleteItem; SetEnabled) but
// never scans the registry or puts a whole item; it reads the ledger and
// never writes it; it decrypts ciphers with the one algorithm only and
// reads the public keys, never signs; it reads nothing of the lake.
func TestAPIStatements(t *testing.T) {
	got := renderAll(For(API))
	want := []string{
		"Allow logs:CreateLogStream,logs:PutLogEvents on own-log-group",
		"Allow sts:AssumeRole on customer-roles",
		"Deny sts:AssumeRole on own-account-roles",
		"Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:UpdateItem on registry-table",
		"Allow dynamodb:GetItem,dynamodb:Query on ledger-table",
		"Allow kms:DescribeKey,kms:GetPublicKey on sas-keys,signing-key",
		"Allow kms:Decrypt on sas-keys if map[StringEquals:map[kms:EncryptionAlgorithm:RSAES_OAEP_SHA_256]]",
		"Allow lambda:InvokeFunction on export-function",
		"Allow firehose:PutRecordBatch on lake-stream",
	}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("api:\n got %q\nwant %q", got, want)
	}
	for _, st := range For(API) {
		for _, a := range st.Actions {
			switch a {
			case "kms:Sign", "dynamodb:Scan", "dynamodb:PutItem", "s3:GetObject", "s3:PutObject":
				t.Errorf("api %s: %s", st.Sid, a)
			}
		}
	}
}
