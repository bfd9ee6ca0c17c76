// Package testimages makes small image files for tests, including
// malicious ones.
package testimages

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// ClassFolders writes perClass flat-coloured 40 x 30 JPEGs (quality 90)
// into root/<class>/<class><k>.jpg for each class: the red channel is set
// by the class and the green by k, so classes differ and so do the images
// of one class.
func ClassFolders(tb testing.TB, root string, classes []string, perClass int) {
	tb.Helper()
	for i, c := range classes {
		dir := filepath.Join(root, c)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		for k := 0; k < perClass; k++ {
			img := image.NewRGBA(image.Rect(0, 0, 40, 30))
			fill := color.RGBA{uint8((60 + 120*i) % 256), uint8((40 * k) % 256), 90, 255}
			draw.Draw(img, img.Bounds(), &image.Uniform{fill}, image.Point{}, draw.Src)
			var b bytes.Buffer
			if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s%d.jpg", c, k)), b.Bytes(), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

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

// ProgressiveJPEG is a valid progressive JPEG of w x h mid-grey pixels in
// three full-resolution components, about 6 bits per 8 x 8 block: the
// decoder keeps 64 coefficients per block and component (12 bytes a pixel)
// until the last scan, so a small file costs much memory to decode.
func ProgressiveJPEG(w, h int) []byte {
	var b bytes.Buffer
	seg := func(marker byte, payload []byte) {
		b.Write([]byte{0xFF, marker})
		binary.Write(&b, binary.BigEndian, uint16(len(payload)+2))
		b.Write(payload)
	}
	b.Write([]byte{0xFF, 0xD8})
	dqt := make([]byte, 65)
	for i := 1; i < 65; i++ {
		dqt[i] = 1
	}
	seg(0xDB, dqt)
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3}
	for c := byte(1); c <= 3; c++ {
		sof = append(sof, c, 0x11, 0)
	}
	seg(0xC2, sof)
	// One-code Huffman tables: "0" is DC category 0 (no change) and AC EOB.
	table := func(class byte) []byte {
		t := make([]byte, 18)
		t[0], t[1], t[17] = class<<4, 1, 0
		return t
	}
	seg(0xC4, table(0))
	seg(0xC4, table(1))
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	scan := func(bits int) {
		n := (bits + 7) / 8
		data := make([]byte, n)
		if r := bits % 8; r != 0 {
			data[n-1] = 0xFF >> r // pad with 1 bits
		}
		b.Write(data)
	}
	seg(0xDA, []byte{3, 1, 0, 2, 0, 3, 0, 0, 0, 0}) // DC of all components
	scan(3 * blocks)
	for c := byte(1); c <= 3; c++ {
		seg(0xDA, []byte{1, c, 0, 1, 63, 0}) // AC 1..63 of one component
		scan(blocks)
	}
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}
