package redact

import "testing"

// BenchmarkClean: the common case, values without credentials, as the
// export sees them (the query and referrer of internal/logstore/genstore).
func BenchmarkClean(b *testing.B) {
	q := "fields.title=Hello%2C+world&locale=en-US"
	u := "https://app.contentful.com/spaces/space0x9q2/entries"
	b.ReportAllocs()
	for b.Loop() {
		Query(q)
		URL(u)
	}
}

func BenchmarkCleanQuery(b *testing.B) {
	q := "fields.title=Hello%2C+world&locale=en-US"
	for b.Loop() {
		Query(q)
	}
}

func BenchmarkCleanURL(b *testing.B) {
	u := "https://app.contentful.com/spaces/space0x9q2/entries"
	for b.Loop() {
		URL(u)
	}
}
