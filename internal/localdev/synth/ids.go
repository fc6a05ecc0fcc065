package synth

import (
	"hash/fnv"
	"math/rand/v2"
)

// Derived values: the IDs, hashes and skewed draws every pool and event
// field is made of.

// Alphabets of the derived IDs.
const (
	base62    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	lowerAlnm = "0123456789abcdefghijklmnopqrstuvwxyz"
	hexDigits = "0123456789abcdef"
)

// search returns the first index whose cumulative weight exceeds u.
func search(cum []float64, u float64) int {
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cum[m] > u {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// skew draws an index below n, small ones more often (density falling as
// 1/sqrt): a few hot entries, busy users, main spaces.
func skew(r *rand.Rand, n int) int {
	u := r.Float64()
	return int(u * u * float64(n))
}

// appendID appends 22 base62 characters derived from h, the shape of
// Contentful's generated IDs.
func appendID(b []byte, h uint64) []byte {
	l := mix64(h ^ 0x9e3779b97f4a7c15)
	for _, v := range [2]uint64{h, l} {
		for range 11 {
			b = append(b, base62[v%62])
			v /= 62
		}
	}
	return b
}

func appendHex(b []byte, v uint64) []byte {
	for s := 60; s >= 0; s -= 4 {
		b = append(b, hexDigits[v>>uint(s)&0xf])
	}
	return b
}

// mix64 is the SplitMix64 finalizer: a bijection of uint64 that scatters
// nearby inputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// orgKey is the per-org seed of every derived value.
func orgKey(seed int64, org string) uint64 {
	return mix64(hashString(org) ^ mix64(uint64(seed)+0x9e3779b97f4a7c15))
}
