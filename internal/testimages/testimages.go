// Package testimages makes small image files for tests, including
// malicious ones.
package testimages

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// PNGBomb is a valid PNG header that claims 50000 x 50000 RGB pixels: a
// decompression bomb that must be rejected before any pixel is allocated.
func PNGBomb() []byte { return PNGHeader(50000, 50000, 8, 2) }

// PNGHeader is a PNG signature and IHDR chunk claiming w x h pixels of the
// given bit depth and colour type (2 RGB, 6 RGBA), with no pixel data.
func PNGHeader(w, h int, depth, colorType byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = depth, colorType
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}
