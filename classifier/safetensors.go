package classifier

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// Tensor is one named float32 array of a safetensors file.
type Tensor struct {
	Shape []int
	Data  []float32
}

type tensorHeader struct {
	Dtype       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header of a safetensors file.
const maxHeader = 100 << 20

// WriteSafetensors writes tensors and string metadata in the safetensors
// layout: an 8-byte little-endian header length, a JSON header (padded with
// spaces to a multiple of 8), then the raw little-endian data, laid out in
// the order of the sorted names.
func WriteSafetensors(w io.Writer, tensors map[string]Tensor, meta map[string]string) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		if n == "__metadata__" {
			return fmt.Errorf("safetensors: reserved tensor name %q", n)
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
		header[n] = tensorHeader{Dtype: "F32", Shape: t.Shape, DataOffsets: [2]int64{off, off + size}}
		off += size
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hb)))
	bw.Write(lenBuf[:])
	bw.Write(hb)
	buf := make([]byte, 4)
	for _, n := range names {
		for _, v := range tensors[n].Data {
			binary.LittleEndian.PutUint32(buf, math.Float32bits(v))
			bw.Write(buf)
		}
	}
	return bw.Flush()
}

// ReadSafetensors reads a safetensors file of float32 tensors. Truncated
// or inconsistent files give errors naming the file and the problem.
func ReadSafetensors(path string) (map[string]Tensor, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return nil, nil, fmt.Errorf("%s: not a model file: too short (%d bytes)", path, st.Size())
	}
	hl := binary.LittleEndian.Uint64(lenBuf[:])
	if hl == 0 || hl > maxHeader || int64(hl) > st.Size()-8 {
		return nil, nil, fmt.Errorf("%s: not a model file or truncated: header length %d in a %d-byte file", path, hl, st.Size())
	}
	hb := make([]byte, hl)
	if _, err := io.ReadFull(f, hb); err != nil {
		return nil, nil, fmt.Errorf("%s: truncated header: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hb, &raw); err != nil {
		return nil, nil, fmt.Errorf("%s: corrupt header: %w", path, err)
	}
	dataLen := st.Size() - 8 - int64(hl)
	meta := map[string]string{}
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, nil, fmt.Errorf("%s: corrupt metadata: %w", path, err)
		}
		delete(raw, "__metadata__")
	}
	type entry struct {
		name string
		h    tensorHeader
	}
	var entries []entry
	for n, r := range raw {
		var h tensorHeader
		if err := json.Unmarshal(r, &h); err != nil {
			return nil, nil, fmt.Errorf("%s: tensor %q: corrupt entry: %w", path, n, err)
		}
		if h.Dtype != "F32" {
			return nil, nil, fmt.Errorf("%s: tensor %q has dtype %s, only F32 is supported", path, n, h.Dtype)
		}
		numel := int64(1)
		for _, d := range h.Shape {
			if d < 0 || (d > 0 && numel > math.MaxInt32/int64(d)) {
				return nil, nil, fmt.Errorf("%s: tensor %q has a bad shape %v", path, n, h.Shape)
			}
			numel *= int64(d)
		}
		b, e := h.DataOffsets[0], h.DataOffsets[1]
		if b < 0 || e < b || e-b != 4*numel {
			return nil, nil, fmt.Errorf("%s: tensor %q: offsets %v do not match shape %v", path, n, h.DataOffsets, h.Shape)
		}
		if e > dataLen {
			return nil, nil, fmt.Errorf("%s: truncated: tensor %q ends at byte %d of a %d-byte data section", path, n, e, dataLen)
		}
		entries = append(entries, entry{n, h})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].h.DataOffsets[0] < entries[j].h.DataOffsets[0] })
	var pos int64
	for _, e := range entries {
		if e.h.DataOffsets[0] != pos {
			return nil, nil, fmt.Errorf("%s: tensor %q: data does not follow the previous tensor (gap or overlap)", path, e.name)
		}
		pos = e.h.DataOffsets[1]
	}
	if pos != dataLen {
		return nil, nil, fmt.Errorf("%s: data section is %d bytes, tensors cover %d", path, dataLen, pos)
	}
	data := make([]byte, dataLen)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, fmt.Errorf("%s: truncated data: %w", path, err)
	}
	out := make(map[string]Tensor, len(entries))
	for _, e := range entries {
		b := data[e.h.DataOffsets[0]:e.h.DataOffsets[1]]
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		out[e.name] = Tensor{Shape: e.h.Shape, Data: v}
	}
	return out, meta, nil
}
