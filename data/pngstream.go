package data

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image/color"
	"io"
)

// Streaming PNG decoding: a non-interlaced 8- or 16-bit grey, grey+alpha,
// RGB or RGBA PNG without a tRNS chunk is inflated, unfiltered and resized
// row by row, never holding more than two of its rows. A 16-bit RGBA photo
// of 12.6 MP otherwise takes a 100 MB image (and its page faults) to end
// as a 299 px view. The result equals the full decode's, pixel for pixel:
// each row is converted to 8-bit RGB as toRGB converts the image that
// image/png returns, and resampled with resample's arithmetic. Other PNGs
// (palettes, low bit depths, transparency keys, Adam7) take the full decode.

// pngHeader is what the streaming decoder needs from a PNG's IHDR.
type pngHeader struct {
	w, h       int
	depth      int // 8 or 16
	colorType  int // 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA
	channels   int
	dataOffset int // offset of the first IDAT chunk
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// streamablePNG parses b's IHDR and the chunks before its image data and
// reports whether the streaming decoder handles it. It is cheap (no pixel
// data is read) and never fails: anything unusual, a damaged chunk
// included, is left to image/png, which reports it.
func streamablePNG(b []byte) (pngHeader, bool) {
	if !bytes.HasPrefix(b, pngSignature) || len(b) < 8+8+13+4 {
		return pngHeader{}, false
	}
	ihdr := b[8:]
	if binary.BigEndian.Uint32(ihdr) != 13 || string(ihdr[4:8]) != "IHDR" || crc32.ChecksumIEEE(ihdr[4:21]) != binary.BigEndian.Uint32(ihdr[21:]) {
		return pngHeader{}, false
	}
	d := ihdr[8:21]
	h := pngHeader{
		w: int(binary.BigEndian.Uint32(d[0:4])), h: int(binary.BigEndian.Uint32(d[4:8])),
		depth: int(d[8]), colorType: int(d[9]),
	}
	if d[10] != 0 || d[11] != 0 || d[12] != 0 { // compression, filter, interlace
		return pngHeader{}, false
	}
	if h.depth != 8 && h.depth != 16 {
		return pngHeader{}, false
	}
	switch h.colorType {
	case 0:
		h.channels = 1
	case 2:
		h.channels = 3
	case 4:
		h.channels = 2
	case 6:
		h.channels = 4
	default:
		return pngHeader{}, false
	}
	if h.w <= 0 || h.h <= 0 || h.w > MaxSide || h.h > MaxSide {
		return pngHeader{}, false
	}
	for off := 8 + 8 + 13 + 4; off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		switch typ {
		case "IDAT":
			h.dataOffset = off
			return h, true
		case "tRNS", "IEND":
			return pngHeader{}, false
		}
		if n < 0 || n > len(b)-off-12 || crc32.ChecksumIEEE(b[off+4:off+8+n]) != binary.BigEndian.Uint32(b[off+8+n:]) {
			return pngHeader{}, false
		}
		off += 12 + n
	}
	return pngHeader{}, false
}

// idatReader reads the concatenated payloads of consecutive IDAT chunks
// from b at off, checking each chunk's CRC at its end; it reports io.EOF at
// the first chunk that is not IDAT.
type idatReader struct {
	ctx  context.Context
	b    []byte
	off  int    // the next chunk's offset
	left []byte // the rest of the current chunk's payload
	done bool
}

func (r *idatReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	for len(r.left) == 0 {
		if r.done {
			return 0, io.EOF
		}
		if r.off+8 > len(r.b) {
			return 0, io.ErrUnexpectedEOF
		}
		n := int(binary.BigEndian.Uint32(r.b[r.off:]))
		if string(r.b[r.off+4:r.off+8]) != "IDAT" {
			r.done = true
			return 0, io.EOF
		}
		if n < 0 || n > len(r.b)-r.off-12 {
			return 0, io.ErrUnexpectedEOF
		}
		chunk := r.b[r.off+4 : r.off+8+n]
		if crc32.ChecksumIEEE(chunk) != binary.BigEndian.Uint32(r.b[r.off+8+n:]) {
			return 0, errors.New("invalid checksum")
		}
		r.left = chunk[4:]
		r.off += 12 + n
	}
	n := copy(p, r.left)
	r.left = r.left[n:]
	return n, nil
}

// checkPNGTail checks the chunks after the image data up to IEND (their
// lengths and CRCs), as image/png does before it returns an image.
func checkPNGTail(b []byte, off int) error {
	for {
		if off+12 > len(b) {
			return io.ErrUnexpectedEOF
		}
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n < 0 || n > len(b)-off-12 {
			return io.ErrUnexpectedEOF
		}
		typ := string(b[off+4 : off+8])
		if typ == "IDAT" {
			return errors.New("chunk out of order")
		}
		if crc32.ChecksumIEEE(b[off+4:off+8+n]) != binary.BigEndian.Uint32(b[off+8+n:]) {
			return errors.New("invalid checksum")
		}
		if typ == "IEND" {
			return nil
		}
		off += 12 + n
	}
}

// pngRows yields the rows of a streamable PNG as 8-bit RGB.
type pngRows struct {
	h        pngHeader
	z        io.ReadCloser
	src      *idatReader
	cur, prv []byte // raw rows with the filter byte
	rgb      []byte
	y        int
}

func newPNGRows(ctx context.Context, b []byte, h pngHeader) (*pngRows, error) {
	src := &idatReader{ctx: ctx, b: b, off: h.dataOffset}
	z, err := zlib.NewReader(src)
	if err != nil {
		return nil, err
	}
	row := 1 + h.w*h.channels*h.depth/8
	return &pngRows{h: h, z: z, src: src, cur: make([]byte, row), prv: make([]byte, row), rgb: make([]byte, 3*h.w)}, nil
}

// next reads and unfilters the next row, converting it to RGB when
// convert is true; the returned slice is reused by the following call.
func (p *pngRows) next(convert bool) ([]byte, error) {
	p.cur, p.prv = p.prv, p.cur
	if _, err := io.ReadFull(p.z, p.cur); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, errors.New("not enough pixel data")
		}
		return nil, err
	}
	bpp := max(p.h.channels*p.h.depth/8, 1)
	cdat, pdat := p.cur[1:], p.prv[1:]
	if p.y == 0 {
		clear(pdat)
	}
	switch p.cur[0] {
	case 0:
	case 1: // Sub
		for i := bpp; i < len(cdat); i++ {
			cdat[i] += cdat[i-bpp]
		}
	case 2: // Up
		for i, v := range pdat {
			cdat[i] += v
		}
	case 3: // Average
		for i := 0; i < bpp; i++ {
			cdat[i] += pdat[i] / 2
		}
		for i := bpp; i < len(cdat); i++ {
			cdat[i] += uint8((int(cdat[i-bpp]) + int(pdat[i])) / 2)
		}
	case 4: // Paeth
		for i := 0; i < bpp; i++ {
			cdat[i] += pdat[i] // paeth(0, b, 0) is b
		}
		for i := bpp; i < len(cdat); i++ {
			cdat[i] += paeth(cdat[i-bpp], pdat[i], pdat[i-bpp])
		}
	default:
		return nil, errors.New("bad filter type")
	}
	p.y++
	if !convert {
		return nil, nil
	}
	p.convert(cdat)
	return p.rgb, nil
}

// convert fills p.rgb from one unfiltered row as toRGB converts the image
// image/png decodes: Gray, RGBA and NRGBA keep their 8-bit values; Gray16 and
// RGBA64 (opaque) keep the high byte; NRGBA64 goes through nrgba64ToNRGBA.
func (p *pngRows) convert(d []byte) {
	o := p.rgb
	w := p.h.w
	switch p.h.depth<<4 | p.h.colorType {
	case 8<<4 | 0:
		for x := 0; x < w; x++ {
			o[3*x], o[3*x+1], o[3*x+2] = d[x], d[x], d[x]
		}
	case 8<<4 | 2:
		copy(o, d[:3*w])
	case 8<<4 | 4:
		for x := 0; x < w; x++ {
			v := d[2*x]
			o[3*x], o[3*x+1], o[3*x+2] = v, v, v
		}
	case 8<<4 | 6:
		for x := 0; x < w; x++ {
			o[3*x], o[3*x+1], o[3*x+2] = d[4*x], d[4*x+1], d[4*x+2]
		}
	case 16<<4 | 0:
		for x := 0; x < w; x++ {
			v := d[2*x]
			o[3*x], o[3*x+1], o[3*x+2] = v, v, v
		}
	case 16<<4 | 2:
		for x := 0; x < w; x++ {
			o[3*x], o[3*x+1], o[3*x+2] = d[6*x], d[6*x+2], d[6*x+4]
		}
	case 16<<4 | 4:
		for x := 0; x < w; x++ {
			v := uint16(d[4*x])<<8 | uint16(d[4*x+1])
			a := uint16(d[4*x+2])<<8 | uint16(d[4*x+3])
			c := nrgba64ToNRGBA(color.NRGBA64{v, v, v, a})
			o[3*x], o[3*x+1], o[3*x+2] = c.R, c.G, c.B
		}
	case 16<<4 | 6:
		for x := 0; x < w; x++ {
			q := d[8*x : 8*x+8]
			c := nrgba64ToNRGBA(color.NRGBA64{
				uint16(q[0])<<8 | uint16(q[1]), uint16(q[2])<<8 | uint16(q[3]),
				uint16(q[4])<<8 | uint16(q[5]), uint16(q[6])<<8 | uint16(q[7])})
			o[3*x], o[3*x+1], o[3*x+2] = c.R, c.G, c.B
		}
	}
}

// finish checks that the image data ends where the rows do (zlib's
// checksum included) and that the chunks after it are sound.
func (p *pngRows) finish() error {
	var one [1]byte
	n, err := p.z.Read(one[:])
	if n != 0 || err == nil {
		return errors.New("too much pixel data")
	}
	if err != io.EOF {
		return err
	}
	for !p.src.done { // IDAT chunks past the end of the zlib stream
		if _, err := p.src.Read(one[:]); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
	}
	return checkPNGTail(p.src.b, p.src.off)
}

func paeth(a, b, c uint8) uint8 {
	pc := int(c)
	pa := int(b) - pc
	pb := int(a) - pc
	pc = absInt(pa + pb)
	pa = absInt(pa)
	pb = absInt(pb)
	if pa <= pb && pa <= pc {
		return a
	} else if pb <= pc {
		return b
	}
	return c
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// rowResampler produces one w x h output of resample from source rows fed
// in order.
type rowResampler struct {
	out    *RGB
	sw, sh int
	sx, sy float64
	method string
	y      int // the next output row
}

// need returns the source rows (y0, y1) that output row y reads.
func (r *rowResampler) need(y int) (int, int) {
	if r.method == Nearest {
		iy := nearestTap(y, r.sy, r.sh)
		return iy, iy
	}
	y0, y1, _ := bilinearTaps(y, r.sy, r.sh)
	return y0, y1
}

// feed takes source row sy (prev is row sy-1, nil for the first) and
// writes every output row whose source rows it completes, with resample's
// arithmetic.
func (r *rowResampler) feed(sy int, prev, cur []byte) {
	row := func(i int) []byte {
		if i == sy {
			return cur
		}
		return prev
	}
	w := r.out.W
	for r.y < r.out.H {
		y0, y1 := r.need(r.y)
		if y1 != sy {
			return
		}
		out := r.out.Pix[3*r.y*w : 3*(r.y+1)*w]
		if r.method == Nearest {
			for x := 0; x < w; x++ {
				ix := nearestTap(x, r.sx, r.sw)
				copy(out[3*x:3*x+3], cur[3*ix:3*ix+3])
			}
		} else {
			_, _, wy := bilinearTaps(r.y, r.sy, r.sh)
			a, b := row(y0), row(y1)
			for x := 0; x < w; x++ {
				x0, x1, wx := bilinearTaps(x, r.sx, r.sw)
				for c := 0; c < 3; c++ {
					out[3*x+c] = lerp2(a[3*x0+c], a[3*x1+c], b[3*x0+c], b[3*x1+c], wx, wy)
				}
			}
		}
		r.y++
	}
}

// decodePNGResized decodes a streamable PNG straight to square views of the
// given sizes. Errors wrap ErrCorrupt, or are ctx's.
func decodePNGResized(ctx context.Context, b []byte, h pngHeader, sizes []int, method string) ([]*RGB, error) {
	fail := func(err error) ([]*RGB, error) {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("%w png: %v", ErrCorrupt, err)
	}
	rows, err := newPNGRows(ctx, b, h)
	if err != nil {
		return fail(err)
	}
	rs := make([]*rowResampler, len(sizes))
	out := make([]*RGB, len(sizes))
	for i, s := range sizes {
		out[i] = &RGB{W: s, H: s, Pix: make([]uint8, 3*s*s)}
		rs[i] = &rowResampler{out: out[i], sw: h.w, sh: h.h, sx: float64(h.w) / float64(s), sy: float64(h.h) / float64(s), method: method}
	}
	// Only the rows some view reads are converted (about 2 in 10 when a
	// 3000-row photo becomes 299 px).
	used := make([]bool, h.h)
	for _, r := range rs {
		for y := 0; y < r.out.H; y++ {
			y0, y1 := r.need(y)
			used[y0], used[y1] = true, true
		}
	}
	var prev []byte
	spare := make([]byte, 3*h.w)
	for y := 0; y < h.h; y++ {
		cur, err := rows.next(used[y])
		if err != nil {
			return fail(err)
		}
		if !used[y] {
			continue
		}
		for _, r := range rs {
			r.feed(y, prev, cur)
		}
		// Keep this row as the previous one: rows.next reuses its buffer.
		copy(spare, cur)
		prev, spare = spare, prev
		if spare == nil {
			spare = make([]byte, 3*h.w)
		}
	}
	if err := rows.finish(); err != nil {
		return fail(err)
	}
	return out, nil
}
