// Package checksum counts and checksums a file's bytes as they are
// written: SHA-256, the hash that customers, the ledger and the manifests
// name, and CRC32C (Castagnoli), by which the export checks its copy of a
// day's file at a tenth of SHA-256's CPU (logstore.DayFile says why that
// suffices). Compaction writes both of a file, the export checks one and
// reports the other: one definition keeps them the same numbers.
//
// It imports only the standard library.
package checksum

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"io"
)

// castagnoli is CRC32C's table (hardware-accelerated by hash/crc32).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// NewCRC32C returns a CRC32C hash; its Sum is the checksum big-endian,
// which hex-encoded is the text Writer.CRC32C gives.
func NewCRC32C() hash.Hash32 { return crc32.New(castagnoli) }

// Writer passes bytes to the writer it wraps and counts, and checksums
// with SHA-256 and CRC32C, what that writer accepted.
type Writer struct {
	w   io.Writer
	sha hash.Hash
	crc hash.Hash32
	n   int64
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, sha: sha256.New(), crc: NewCRC32C()}
}

func (c *Writer) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.sha.Write(p[:n])
	c.crc.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// N is how many bytes were written.
func (c *Writer) N() int64 { return c.n }

// SHA256 is the hex SHA-256 of the bytes written.
func (c *Writer) SHA256() string { return hex.EncodeToString(c.sha.Sum(nil)) }

// CRC32C is the hex CRC32C of the bytes written (8 digits).
func (c *Writer) CRC32C() string { return hex.EncodeToString(c.crc.Sum(nil)) }

// CRC32CSum is the CRC32C of the bytes written.
func (c *Writer) CRC32CSum() uint32 { return c.crc.Sum32() }
