package checksum

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"testing"
)

// TestWriter: what the Writer counts and checksums is what its writer
// accepted, by the standard library's own sums of the same bytes.
func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i := range 1000 {
		fmt.Fprintf(w, "row %d,\"quoted\"\r\n", i)
	}
	data := buf.Bytes()
	sha := sha256.Sum256(data)
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	if w.N() != int64(len(data)) || w.SHA256() != hex.EncodeToString(sha[:]) || w.CRC32C() != fmt.Sprintf("%08x", crc) || w.CRC32CSum() != crc {
		t.Fatalf("n %d sha256 %s crc32c %s (%08x); the bytes: %d, %x, %08x", w.N(), w.SHA256(), w.CRC32C(), w.CRC32CSum(), len(data), sha, crc)
	}
	h := NewCRC32C()
	h.Write(data)
	if h.Sum32() != crc {
		t.Fatalf("NewCRC32C: %08x, want %08x", h.Sum32(), crc)
	}
}
