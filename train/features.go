package train

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"trashsort/tensor"
)

// featureStore holds the activations of one layer for every example and
// view: in memory up to a budget, then in files.
type featureStore struct {
	shape []int // per example
	n     int
	mem   [][]float32
	files []*os.File
	dir   string
}

func newFeatureStore(shape []int, n, views int, budget int64, dir string) (*featureStore, error) {
	s := &featureStore{shape: shape, n: n, mem: make([][]float32, views), files: make([]*os.File, views), dir: dir}
	per := int64(tensor.Numel(shape)) * int64(n) * 4
	var used int64
	for v := 0; v < views; v++ {
		if used+per <= budget {
			s.mem[v] = make([]float32, tensor.Numel(shape)*n)
			used += per
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(dir, fmt.Sprintf("view%d-*.f32", v))
		if err != nil {
			return nil, fmt.Errorf("feature cache: %w", err)
		}
		os.Remove(f.Name()) // unlinked: freed when closed
		s.files[v] = f
	}
	return s, nil
}

func (s *featureStore) per() int { return tensor.Numel(s.shape) }

// put stores the rows of x as examples first, first+1, ...
func (s *featureStore) put(view, first int, x []float32) error {
	if m := s.mem[view]; m != nil {
		copy(m[first*s.per():], x)
		return nil
	}
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	_, err := s.files[view].WriteAt(b, int64(first*s.per())*4)
	return err
}

// gather returns the examples idx of a view as one batch tensor.
func (s *featureStore) gather(view int, idx []int) (*tensor.Tensor, error) {
	per := s.per()
	out := tensor.New(append([]int{len(idx)}, s.shape...)...)
	if m := s.mem[view]; m != nil {
		for k, i := range idx {
			copy(out.Data[k*per:(k+1)*per], m[i*per:(i+1)*per])
		}
		return out, nil
	}
	b := make([]byte, 4*per)
	for k, i := range idx {
		if _, err := s.files[view].ReadAt(b, int64(i*per)*4); err != nil {
			return nil, fmt.Errorf("feature cache: %w", err)
		}
		for j := 0; j < per; j++ {
			out.Data[k*per+j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
		}
	}
	return out, nil
}

func (s *featureStore) close() {
	for _, f := range s.files {
		if f != nil {
			f.Close()
		}
	}
	if s.dir != "" {
		os.Remove(s.dir)
		os.Remove(filepath.Dir(s.dir))
	}
}

func (s *featureStore) bytes() (mem, disk int64) {
	per := int64(s.per()) * int64(s.n) * 4
	for v := range s.mem {
		if s.mem[v] != nil {
			mem += per
		} else {
			disk += per
		}
	}
	return
}
