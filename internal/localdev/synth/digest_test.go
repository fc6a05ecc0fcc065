package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
)

// TestDigest pins the generated events: the SHA-256 of every field of the
// events of fixed configs (a working day with the default methods, a
// Sunday with every method). A change of the generator that alters any
// event changes the digest; a restructuring must not.
func TestDigest(t *testing.T) {
	sunday, err := audit.ParseDay("2026-11-29")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"weekday", Config{Orgs: orgIDs(6), Events: 30_000, Day: testDay(t), Seed: 20261124}, "7353fda7fcecc791aee18873b40f3a7e59e0de1cae5057c40e2dec36875a06e4"},
		{"sunday, every method", Config{Orgs: orgIDs(3), Events: 10_000, Day: sunday, Seed: 5, Methods: []string{"POST", "PUT", "PATCH", "DELETE"}}, "602adf2c96e70807095ea466eb68769aa64be3a06a749c736b9a5f8f74395838"},
	} {
		h := sha256.New()
		var b []byte
		for _, e := range collect(t, c.cfg) {
			b = b[:0]
			for _, s := range []string{e.OrgID, e.RequestID, e.RequestTime.UTC().Format(time.RFC3339Nano), e.RequestMethod,
				e.RequestPath, e.RequestQuery, strconv.Itoa(e.ResponseStatus), strconv.FormatInt(e.ContentLength, 10),
				e.Space, e.Route, e.Referrer, e.ActorID} {
				b = append(strconv.AppendQuote(b, s), ',')
			}
			h.Write(append(b, '\n'))
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.want {
			t.Errorf("%s: digest %s, want %s", c.name, got, c.want)
		}
	}
}
