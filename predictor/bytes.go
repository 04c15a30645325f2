package predictor

import (
	"encoding/binary"
	"math"
)

// BYTES is the KServe v2 data type of a text input: each element is a
// length-prefixed byte string.
const BYTES = "BYTES"

// bytesPrefix is the size of the little-endian uint32 length that precedes
// each element of a BYTES tensor in raw contents; the Batcher counts it
// toward MaxBatchBytes for each text.
const bytesPrefix = 4

// encodeBytesTensor encodes elems as the raw contents of a BYTES tensor: for
// each element, its length as a 4-byte little-endian unsigned integer, then
// its bytes. Every element must be shorter than 4 GiB.
func encodeBytesTensor[S ~string | ~[]byte](elems []S) []byte {
	size := 0
	for _, e := range elems {
		size += bytesPrefix + len(e)
	}
	buf := make([]byte, 0, size)
	for _, e := range elems {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(e)))
		buf = append(buf, e...)
	}
	return buf
}

// decodeBytesTensor decodes the raw contents of a BYTES tensor of n
// elements. The elements share raw. It fails with ErrBadOutput when a
// length prefix is cut short, a length runs past the end, bytes are left
// over, or raw holds another number of elements than n. It allocates no more
// than raw justifies, whatever n claims.
func decodeBytesTensor(raw []byte, n int) ([][]byte, error) {
	if n < 0 {
		return nil, badOutput("BYTES tensor of %d elements", n)
	}
	out := make([][]byte, 0, min(n, len(raw)/bytesPrefix))
	rest := raw
	for i := range n {
		if len(rest) < bytesPrefix {
			if len(rest) == 0 {
				return nil, badOutput("BYTES tensor holds %d elements, want %d", i, n)
			}
			return nil, badOutput("BYTES tensor element %d: length prefix cut short", i)
		}
		l := binary.LittleEndian.Uint32(rest)
		rest = rest[bytesPrefix:]
		if uint64(l) > uint64(len(rest)) {
			return nil, badOutput("BYTES tensor element %d: length past the end", i)
		}
		out = append(out, rest[:l:l])
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return nil, badOutput("BYTES tensor has %d bytes after its %d elements", len(rest), n)
	}
	return out, nil
}

// checkTexts checks that every text fits a 4-byte length prefix and that
// their number fits a uint32.
func checkTexts(texts []string) error {
	if uint64(len(texts)) > math.MaxUint32 {
		return invalidInput("batch of %d texts is too large", len(texts))
	}
	for i, s := range texts {
		if uint64(len(s)) > math.MaxUint32 {
			return invalidInput("text %d is %d bytes, over 4 GiB", i, len(s))
		}
	}
	return nil
}
