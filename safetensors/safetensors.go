// Package safetensors reads and writes float32 tensors in the safetensors
// layout (an 8-byte little-endian header length, a JSON header, then the raw
// little-endian data), the format of Hugging Face's safetensors library.
//
// Reading validates the whole header (names, dtypes, shapes, offsets that
// tile the data section exactly, the file's real size) before any tensor
// data is allocated, so a small crafted file cannot ask for large buffers.
package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"unsafe"
)

// Tensor is one named float32 array.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Entry describes one tensor of a file: its shape and where its bytes lie
// in the data section.
type Entry struct {
	Shape []int
	// Begin and End are byte offsets into the data section.
	Begin, End int64
}

// Len is the number of float32 values of the entry.
func (e Entry) Len() int { return int((e.End - e.Begin) / 4) }

type tensorHeader struct {
	Dtype       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Limits on what a file may declare.
const (
	// MaxHeader bounds the JSON header.
	MaxHeader = 16 << 20
	// MaxRank bounds a tensor's number of dimensions.
	MaxRank = 8
	// MaxElements bounds one tensor.
	MaxElements = math.MaxInt32
)

// Write writes tensors and string metadata; the data is laid out in the
// order of the sorted names and the header padded with spaces to a
// multiple of 8 bytes.
func Write(w io.Writer, tensors map[string]Tensor, meta map[string]string) error {
	names := make([]string, 0, len(tensors))
	for n, t := range tensors {
		if n == "__metadata__" {
			return fmt.Errorf("safetensors: reserved tensor name %q", n)
		}
		numel := 1
		for _, d := range t.Shape {
			numel *= d
		}
		if numel != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: shape %v holds %d values, data has %d", n, t.Shape, numel, len(t.Data))
		}
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, n := range names {
		t := tensors[n]
		size := int64(len(t.Data)) * 4
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[n] = tensorHeader{Dtype: "F32", Shape: shape, DataOffsets: [2]int64{off, off + size}}
		off += size
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: header: %w", err)
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hb)))
	bw.Write(lenBuf[:])
	bw.Write(hb)
	for _, n := range names {
		writeF32(bw, tensors[n].Data)
	}
	return bw.Flush()
}

// File is an open safetensors file whose header has been validated.
type File struct {
	// Entries are the tensors by name.
	Entries map[string]Entry
	// Meta is the header's __metadata__ (string to string).
	Meta map[string]string

	name      string
	r         io.ReaderAt
	closer    io.Closer
	dataStart int64
}

// Open opens path and validates its header.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	sf, err := NewReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.closer = f
	return sf, nil
}

// NewReader validates the header of the size bytes of r; name is used in
// errors.
func NewReader(r io.ReaderAt, size int64, name string) (*File, error) {
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("%s: not a safetensors file: too short (%d bytes)", name, size)
	}
	hl := binary.LittleEndian.Uint64(lenBuf[:])
	if hl < 2 || hl > MaxHeader || int64(hl) > size-8 {
		return nil, fmt.Errorf("%s: not a safetensors file or truncated: header length %d in a %d-byte file", name, hl, size)
	}
	hb := make([]byte, hl)
	if _, err := r.ReadAt(hb, 8); err != nil {
		return nil, fmt.Errorf("%s: truncated header: %w", name, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hb, &raw); err != nil {
		return nil, fmt.Errorf("%s: corrupt header: %w", name, err)
	}
	f := &File{name: name, r: r, dataStart: 8 + int64(hl), Entries: map[string]Entry{}, Meta: map[string]string{}}
	dataLen := size - f.dataStart
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &f.Meta); err != nil {
			return nil, fmt.Errorf("%s: corrupt metadata: %w", name, err)
		}
		delete(raw, "__metadata__")
	}
	type span struct {
		name string
		e    Entry
	}
	var spans []span
	for n, r := range raw {
		var h tensorHeader
		if err := json.Unmarshal(r, &h); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: corrupt entry: %w", name, n, err)
		}
		if h.Dtype != "F32" {
			return nil, fmt.Errorf("%s: tensor %q has dtype %q, only F32 is supported", name, n, h.Dtype)
		}
		if len(h.Shape) > MaxRank {
			return nil, fmt.Errorf("%s: tensor %q has %d dimensions, more than %d", name, n, len(h.Shape), MaxRank)
		}
		numel := int64(1)
		for _, d := range h.Shape {
			if d < 0 || (d > 0 && numel > MaxElements/int64(d)) {
				return nil, fmt.Errorf("%s: tensor %q has a bad shape %v", name, n, h.Shape)
			}
			numel *= int64(d)
		}
		b, e := h.DataOffsets[0], h.DataOffsets[1]
		if b < 0 || e < b || e-b != 4*numel {
			return nil, fmt.Errorf("%s: tensor %q: offsets %v do not match shape %v", name, n, h.DataOffsets, h.Shape)
		}
		if e > dataLen {
			return nil, fmt.Errorf("%s: truncated: tensor %q ends at byte %d of a %d-byte data section", name, n, e, dataLen)
		}
		if h.Shape == nil {
			h.Shape = []int{}
		}
		spans = append(spans, span{n, Entry{Shape: h.Shape, Begin: b, End: e}})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].e.Begin != spans[j].e.Begin {
			return spans[i].e.Begin < spans[j].e.Begin
		}
		return spans[i].e.End < spans[j].e.End
	})
	var pos int64
	for _, s := range spans {
		if s.e.Begin != pos {
			return nil, fmt.Errorf("%s: tensor %q: data does not follow the previous tensor (gap or overlap)", name, s.name)
		}
		pos = s.e.End
		f.Entries[s.name] = s.e
	}
	if pos != dataLen {
		return nil, fmt.Errorf("%s: data section is %d bytes, tensors cover %d", name, dataLen, pos)
	}
	return f, nil
}

// Close closes the file opened by Open.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// ErrNoTensor is wrapped by ReadInto for a name the file does not hold.
var ErrNoTensor = errors.New("no such tensor")

// ReadInto reads tensor name into dst, whose length must match.
func (f *File) ReadInto(name string, dst []float32) error {
	e, ok := f.Entries[name]
	if !ok {
		return fmt.Errorf("%s: %w %q", f.name, ErrNoTensor, name)
	}
	if e.Len() != len(dst) {
		return fmt.Errorf("%s: tensor %q holds %d values, want %d", f.name, name, e.Len(), len(dst))
	}
	if littleEndian && len(dst) > 0 {
		// The file's bytes are the slice's own: read them in place.
		if _, err := f.r.ReadAt(bytesOf(dst), f.dataStart+e.Begin); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", f.name, name, err)
		}
		return nil
	}
	buf := make([]byte, min(e.End-e.Begin, 1<<20))
	for off, i := e.Begin, 0; off < e.End; {
		n := min(int64(len(buf)), e.End-off)
		if _, err := f.r.ReadAt(buf[:n], f.dataStart+off); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", f.name, name, err)
		}
		for k := int64(0); k < n; k += 4 {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[k:]))
			i++
		}
		off += n
	}
	return nil
}

// ReadAll reads every tensor.
func (f *File) ReadAll() (map[string]Tensor, error) {
	out := make(map[string]Tensor, len(f.Entries))
	for n, e := range f.Entries {
		t := Tensor{Shape: e.Shape, Data: make([]float32, e.Len())}
		if err := f.ReadInto(n, t.Data); err != nil {
			return nil, err
		}
		out[n] = t
	}
	return out, nil
}

// ReadFile reads every tensor and the metadata of path.
func ReadFile(path string) (map[string]Tensor, map[string]string, error) {
	f, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	ts, err := f.ReadAll()
	if err != nil {
		return nil, nil, err
	}
	return ts, f.Meta, nil
}

// littleEndian is whether this machine stores float32 as the file does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// writeF32 writes v as little-endian float32: on a little-endian machine
// the slice's own bytes, in one write, instead of a call per value (a
// 200 MB checkpoint took 0.2 s longer that way).
func writeF32(w *bufio.Writer, v []float32) {
	if len(v) == 0 {
		return
	}
	if littleEndian {
		w.Write(bytesOf(v))
		return
	}
	var buf [4]byte
	for _, x := range v {
		binary.LittleEndian.PutUint32(buf[:], math.Float32bits(x))
		w.Write(buf[:])
	}
}

// bytesOf is the memory of a non-empty v, seen as bytes.
func bytesOf(v []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}
