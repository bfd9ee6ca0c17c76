package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayout checks the bytes as Python's safetensors reads them:
// u64 LE header length, JSON header with dtype/shape/data_offsets and
// string-to-string __metadata__, contiguous data in little-endian F32.
func TestLayout(t *testing.T) {
	var b bytes.Buffer
	err := Write(&b, map[string]Tensor{
		"b/kernel": {Shape: []int{2}, Data: []float32{1, 2}},
		"a/bias":   {Shape: []int{1, 1}, Data: []float32{-1.5}},
	}, map[string]string{"format": "x"})
	if err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	n := binary.LittleEndian.Uint64(raw[:8])
	if (8+n)%8 != 0 || int(8+n) > len(raw) {
		t.Fatalf("header length %d not aligned or too long", n)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimRight(raw[8:8+n], " "), &h); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(h["__metadata__"], &meta); err != nil || meta["format"] != "x" {
		t.Errorf("metadata %s", h["__metadata__"])
	}
	var a tensorHeader
	json.Unmarshal(h["a/bias"], &a)
	if a.Dtype != "F32" || a.DataOffsets != [2]int64{0, 4} || len(a.Shape) != 2 {
		t.Errorf("a/bias entry %+v", a)
	}
	data := raw[8+n:]
	if len(data) != 12 || binary.LittleEndian.Uint32(data[0:]) != 0xbfc00000 || binary.LittleEndian.Uint32(data[4:]) != 0x3f800000 {
		t.Errorf("data % x", data)
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.safetensors")
	big := make([]float32, 300_000) // more than one read buffer
	for i := range big {
		big[i] = float32(i) * 0.5
	}
	in := map[string]Tensor{"big": {Shape: []int{600, 500}, Data: big}, "scalar": {Shape: []int{}, Data: []float32{7}}, "empty": {Shape: []int{0, 3}, Data: []float32{}}}
	var b bytes.Buffer
	if err := Write(&b, in, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b.Bytes(), 0o644)
	out, meta, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["k"] != "v" || len(out) != 3 || out["scalar"].Data[0] != 7 || out["big"].Data[299_999] != 149_999.5 || len(out["empty"].Shape) != 2 {
		t.Errorf("read back %v %v", meta, out["scalar"])
	}
	if err := Write(&b, map[string]Tensor{"x": {Shape: []int{3}, Data: []float32{1}}}, nil); err == nil {
		t.Error("Write accepted a shape that does not match the data")
	}
}

// header builds a file from a raw JSON header and n data bytes.
func header(js string, n int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(js)))
	b.WriteString(js)
	b.Write(make([]byte, n))
	return b.Bytes()
}

func TestRejects(t *testing.T) {
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"header longer than file", header(`{}`, 0)[:9], "header length"},
		{"huge header length", append(binary.LittleEndian.AppendUint64(nil, 1<<40), "{}"...), "header length"},
		{"not json", header(`{"a":`, 0), "corrupt header"},
		{"dtype", header(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}`, 2), "dtype"},
		{"negative dim", header(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "bad shape"},
		{"overflowing shape", header(`{"a":{"dtype":"F32","shape":[65536,65536,65536],"data_offsets":[0,4]}}`, 4), "bad shape"},
		{"rank", header(`{"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}`, 4), "dimensions"},
		{"offsets vs shape", header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), "do not match"},
		{"past the end", header(`{"a":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}`, 4), "truncated"},
		{"gap", header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "gap or overlap"},
		{"overlap", header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), "gap or overlap"},
		{"trailing data", header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8), "tensors cover"},
		{"metadata not strings", header(`{"__metadata__":{"a":1}}`, 0), "corrupt metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tc.file), int64(len(tc.file)), "f.safetensors")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "f.safetensors") {
				t.Errorf("got %v, want an error naming the file and saying %q", err, tc.want)
			}
		})
	}
}

// FuzzNewReader: any bytes give a File or an error, never a panic, and a
// valid header's tensors can all be read.
func FuzzNewReader(f *testing.F) {
	var b bytes.Buffer
	Write(&b, map[string]Tensor{"a": {Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}, "b": {Shape: []int{1}, Data: []float32{5}}}, map[string]string{"format": "x"})
	f.Add(b.Bytes())
	f.Add(header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4))
	f.Add(header(`{"a":{"dtype":"F32","shape":[65536,65536],"data_offsets":[0,4]}}`, 4))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := NewReader(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		total := 0
		for _, e := range sf.Entries {
			total += e.Len()
		}
		if 4*total > len(data) {
			t.Fatalf("entries claim %d values in %d bytes", total, len(data))
		}
		if _, err := sf.ReadAll(); err != nil {
			t.Fatalf("validated file unreadable: %v", err)
		}
	})
}
