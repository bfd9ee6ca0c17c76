package data

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"math/rand/v2"
	"testing"
)

// rawPNG writes a PNG of the given raw (unfiltered) rows, filtering row y
// with filter type y%5 so that every filter is exercised.
func rawPNG(w, h, depth, colorType int, rows [][]byte) []byte {
	return rawPNGBadRow(w, h, depth, colorType, rows, -1)
}

// rawPNGBadRow is rawPNG with an unknown filter type (9) on row bad.
func rawPNGBadRow(w, h, depth, colorType int, rows [][]byte, bad int) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, d []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(d)))
		c := append([]byte(typ), d...)
		out.Write(c)
		binary.Write(&out, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = byte(depth), byte(colorType)
	chunk("IHDR", ihdr)
	chunk("tEXt", []byte("Comment\x00streamed"))
	bpp := len(rows[0]) / w
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	prev := make([]byte, len(rows[0]))
	for y, r := range rows {
		ft := byte(y % 5)
		f := make([]byte, len(r))
		for i := range r {
			var a, b, c byte
			if i >= bpp {
				a, c = r[i-bpp], prev[i-bpp]
			}
			b = prev[i]
			switch ft {
			case 0:
				f[i] = r[i]
			case 1:
				f[i] = r[i] - a
			case 2:
				f[i] = r[i] - b
			case 3:
				f[i] = r[i] - byte((int(a)+int(b))/2)
			case 4:
				f[i] = r[i] - paeth(a, b, c)
			}
		}
		if y == bad {
			ft = 9
		}
		zw.Write(append([]byte{ft}, f...))
		prev = r
	}
	zw.Close()
	d := z.Bytes()
	chunk("IDAT", d[:len(d)/2]) // two IDAT chunks
	chunk("IDAT", d[len(d)/2:])
	chunk("IEND", nil)
	return out.Bytes()
}

// TestStreamedPNGMatchesFullDecode: every streamable kind of PNG, resized
// down, up and to its own size with both methods, equals image/png's
// decode resized by resizeImage, byte for byte.
func TestStreamedPNGMatchesFullDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []struct{ depth, colorType, channels int }{
		{8, 0, 1}, {8, 2, 3}, {8, 4, 2}, {8, 6, 4}, {16, 0, 1}, {16, 2, 3}, {16, 4, 2}, {16, 6, 4},
	}
	for _, k := range kinds {
		for _, wh := range [][2]int{{57, 41}, {13, 30}, {1, 1}} {
			w, h := wh[0], wh[1]
			rows := make([][]byte, h)
			for y := range rows {
				rows[y] = make([]byte, w*k.channels*k.depth/8)
				for i := range rows[y] {
					rows[y][i] = byte(rng.IntN(256))
					if rng.IntN(4) == 0 { // some fully transparent and opaque pixels
						rows[y][i] = 0
					} else if rng.IntN(4) == 0 {
						rows[y][i] = 255
					}
				}
			}
			b := rawPNG(w, h, k.depth, k.colorType, rows)
			name := fmt.Sprintf("depth%d-type%d-%dx%d", k.depth, k.colorType, w, h)
			ph, ok := streamablePNG(b)
			if !ok {
				t.Fatalf("%s: not streamable", name)
			}
			img, _, err := image.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s: image/png: %v", name, err)
			}
			for _, method := range []string{Bilinear, Nearest} {
				sizes := []int{7, 29, w, 64}
				got, err := decodePNGResized(context.Background(), b, ph, sizes, method)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for i, s := range sizes {
					want := resizeImage(img, 1, s, s, method)
					if !bytes.Equal(got[i].Pix, want.Pix) {
						t.Errorf("%s %s %d px: streamed decode differs from the full one", name, method, s)
					}
				}
				// The public entry points take the streamed path too.
				one, err := DecodeResized(context.Background(), b, 1<<20, 29, 29, method)
				if err != nil || !bytes.Equal(one.Pix, got[1].Pix) {
					t.Errorf("%s %s: DecodeResized: %v", name, method, err)
				}
			}
		}
	}
}

// withBadCRC returns b with the CRC of the chunk at offset off flipped.
func withBadCRC(b []byte, off int) []byte {
	b = bytes.Clone(b)
	n := int(binary.BigEndian.Uint32(b[off:]))
	b[off+8+n] ^= 0xff
	return b
}

// TestStreamablePNG: what is left to image/png (palettes, low bit depths,
// transparency keys, interlacing) and what is streamed.
func TestStreamablePNG(t *testing.T) {
	base := rawPNG(4, 3, 8, 2, [][]byte{make([]byte, 12), make([]byte, 12), make([]byte, 12)})
	withIHDR := func(depth, colorType, interlace byte) []byte {
		b := bytes.Clone(base)
		b[8+8+8], b[8+8+9], b[8+8+12] = depth, colorType, interlace
		binary.BigEndian.PutUint32(b[8+8+13:], crc32.ChecksumIEEE(b[8+4:8+8+13]))
		return b
	}
	trns := bytes.Clone(base[:33])
	trns = append(trns, 0, 0, 0, 6, 't', 'R', 'N', 'S', 0, 1, 0, 2, 0, 3, 0, 0, 0, 0)
	trns = append(trns, base[33:]...)
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"rgb8", base, true},
		{"rgba16", withIHDR(16, 6, 0), true},
		{"palette", withIHDR(8, 3, 0), false},
		{"grey 4-bit", withIHDR(4, 0, 0), false},
		{"interlaced", withIHDR(8, 2, 1), false},
		{"tRNS", trns, false},
		{"jpeg", jpegBytes(8), false},
		{"truncated header", base[:20], false},
		{"damaged IHDR", withBadCRC(base, 8), false},
		{"damaged tEXt", withBadCRC(base, 8+25), false},
	} {
		if _, got := streamablePNG(c.b); got != c.want {
			t.Errorf("%s: streamable %v, want %v", c.name, got, c.want)
		}
	}
}

// TestStreamedPNGErrors: damaged streamable PNGs fail with ErrCorrupt,
// as image/png fails on them, and a cancelled context stops the decode.
func TestStreamedPNGErrors(t *testing.T) {
	rows := make([][]byte, 40)
	for y := range rows {
		rows[y] = bytes.Repeat([]byte{byte(y), 7, 200}, 30)
	}
	good := rawPNG(30, 40, 8, 2, rows)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-20] ^= 0xff // inside the second IDAT
	cases := map[string][]byte{
		"truncated in the data": good[:len(good)/2],
		"no IEND":               good[:len(good)-12],
		"bad CRC":               badCRC,
		"short rows":            rawPNG(31, 40, 8, 2, rows), // the header claims wider rows than the data has
		"bad filter type":       rawPNGBadRow(30, 40, 8, 2, rows, 5),
		"damaged tEXt chunk":    withBadCRC(good, 8+25),
	}
	for name, b := range cases {
		_, err := DecodeResized(context.Background(), b, 1<<20, 16, 16, Bilinear)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
		if _, _, ierr := image.Decode(bytes.NewReader(b)); ierr == nil {
			t.Errorf("%s: image/png accepts it", name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DecodeResized(ctx, good, 1<<20, 16, 16, Bilinear); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
	if _, err := DecodeResized(context.Background(), good, 100, 16, 16, Bilinear); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the pixel limit: got %v", err)
	}
}
