package s3obj

import "testing"

// Only an endpoint on the loopback interface is an emulator whose keys
// keep their "=" unescaped.
func TestOnLoopback(t *testing.T) {
	for ep, want := range map[string]bool{
		"http://127.0.0.1:4566": true, "http://127.9.0.1": true, "http://localhost:9000": true, "http://[::1]:80": true,
		"https://s3.us-east-1.amazonaws.com": false, "https://bucket.vpce-1a2b.s3.us-east-1.vpce.amazonaws.com": false,
		"http://10.0.0.5:4566": false, "::not a url": false,
	} {
		if got := onLoopback(ep); got != want {
			t.Errorf("onLoopback(%q) = %t, want %t", ep, got, want)
		}
	}
}
