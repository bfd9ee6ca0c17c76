package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"trashsort/atomicfile"
	"trashsort/data"
	"trashsort/nn"
	"trashsort/tensor"
)

// featureStore holds the activations of one layer for every example and
// view: in memory up to a budget, then in unlinked temporary files. Values
// are kept as float32 or, to halve the memory, as bfloat16 (rounded to
// nearest even). With a folder and a key, finished views are also written
// to files named after the key and read back by a later run with the same key.
type featureStore struct {
	shape []int // per example
	n     int
	elem  int // bytes per value: 4 (float32) or 2 (bfloat16)
	mem   [][]byte
	files []*os.File
	dir   string // for spill files

	persist string // folder of persistent views ("" for none)
	key     string // names this store's views in persist
	// shards: persist is Config.Features, whose views are read, whole or
	// from row shards, never written, and must be there.
	shards bool
}

func newFeatureStore(shape []int, n, views int, bf16 bool, budget int64, dir string) (*featureStore, error) {
	s := &featureStore{shape: shape, n: n, elem: 4, mem: make([][]byte, views), files: make([]*os.File, views), dir: dir}
	if bf16 {
		s.elem = 2
	}
	per := s.viewBytes()
	var used int64
	for v := 0; v < views; v++ {
		if used+per <= budget {
			s.mem[v] = allocView(per)
			used += per
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(dir, fmt.Sprintf("view%d-*.bin", v))
		if err != nil {
			return nil, fmt.Errorf("feature cache: %w", err)
		}
		os.Remove(f.Name()) // unlinked: freed when closed
		s.files[v] = f
	}
	return s, nil
}

// allocView returns zeroed memory for one view. Large views are mapped
// outside the Go heap: the garbage collector lets the heap grow to twice
// what is live, and gigabytes of cached activations would otherwise double
// the process's peak memory.
func allocView(n int64) []byte {
	if n >= 1<<20 {
		if b, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE); err == nil {
			return b
		}
	}
	return make([]byte, n)
}

// freeView releases memory from allocView.
func freeView(b []byte) {
	if len(b) >= 1<<20 {
		syscall.Munmap(b) // an error means it came from make: the collector frees it
	}
}

func (s *featureStore) per() int { return tensor.Numel(s.shape) }

func (s *featureStore) viewBytes() int64 { return int64(s.per()) * int64(s.n) * int64(s.elem) }

// bf16Bits rounds a float32 to bfloat16 (nearest, ties to even).
func bf16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7f800000 == 0x7f800000 && b&0x007fffff != 0 {
		return uint16(b>>16) | 0x40 // NaN stays NaN
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

func (s *featureStore) encode(dst []byte, x []float32) {
	if s.elem == 2 {
		for i, v := range x {
			binary.LittleEndian.PutUint16(dst[2*i:], bf16Bits(v))
		}
		return
	}
	for i, v := range x {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func (s *featureStore) decode(dst []float32, b []byte) {
	if s.elem == 2 {
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// put stores the rows of x as examples first, first+1, ...
func (s *featureStore) put(view, first int, x []float32) error {
	off := int64(first) * int64(s.per()) * int64(s.elem)
	if m := s.mem[view]; m != nil {
		if off+int64(len(x)*s.elem) > int64(len(m)) {
			return fmt.Errorf("feature cache: %d values at example %d overflow the view", len(x), first)
		}
		s.encode(m[off:], x)
		return nil
	}
	b := make([]byte, s.elem*len(x))
	s.encode(b, x)
	if _, err := s.files[view].WriteAt(b, off); err != nil {
		return fmt.Errorf("feature cache: %w", err)
	}
	return nil
}

// gather returns the examples idx of a view as one batch tensor.
func (s *featureStore) gather(view int, idx []int) (*tensor.Tensor, error) {
	per := s.per()
	rb := per * s.elem
	out := tensor.New(append([]int{len(idx)}, s.shape...)...)
	if m := s.mem[view]; m != nil {
		for k, i := range idx {
			s.decode(out.Data[k*per:(k+1)*per], m[i*rb:(i+1)*rb])
		}
		return out, nil
	}
	b := make([]byte, rb)
	for k, i := range idx {
		if _, err := s.files[view].ReadAt(b, int64(i)*int64(rb)); err != nil {
			return nil, fmt.Errorf("feature cache: %w", err)
		}
		s.decode(out.Data[k*per:(k+1)*per], b)
	}
	return out, nil
}

// persistPath is the file holding a finished view, or "" without persistence.
func (s *featureStore) persistPath(view int) string {
	if s.persist == "" {
		return ""
	}
	return filepath.Join(s.persist, fmt.Sprintf("%s-v%d.bin", s.key, view))
}

// load fills a view from its persistent file; false when there is none
// (or it has the wrong size, as a truncated write would leave).
func (s *featureStore) load(view int) (bool, error) {
	if s.shards {
		return s.loadShards(view)
	}
	p := s.persistPath(view)
	if p == "" {
		return false, nil
	}
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("feature cache: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() != s.viewBytes() {
		return false, nil
	}
	if m := s.mem[view]; m != nil {
		if _, err := io.ReadFull(f, m); err != nil {
			return false, fmt.Errorf("feature cache %s: %w", p, err)
		}
		return true, nil
	}
	if _, err := io.Copy(io.NewOffsetWriter(s.files[view], 0), f); err != nil {
		return false, fmt.Errorf("feature cache %s: %w", p, err)
	}
	return true, nil
}

// save writes a finished view to its persistent file, atomically.
func (s *featureStore) save(view int) error {
	p := s.persistPath(view)
	if p == "" || s.shards {
		return nil
	}
	if err := os.MkdirAll(s.persist, 0o755); err != nil {
		return fmt.Errorf("feature cache: %w", err)
	}
	return atomicfile.Write(p, func(w io.Writer) error {
		if m := s.mem[view]; m != nil {
			_, err := w.Write(m)
			return err
		}
		_, err := io.Copy(w, io.NewSectionReader(s.files[view], 0, s.viewBytes()))
		return err
	})
}

func (s *featureStore) close() {
	if s == nil {
		return
	}
	for _, f := range s.files {
		if f != nil {
			f.Close()
		}
	}
	for v, m := range s.mem {
		freeView(m)
		s.mem[v] = nil
	}
	if s.dir != "" {
		os.Remove(s.dir)
		os.Remove(filepath.Dir(s.dir))
	}
}

func (s *featureStore) bytes() (mem, disk int64) {
	per := s.viewBytes()
	for v := range s.mem {
		if s.mem[v] != nil {
			mem += per
		} else {
			disk += per
		}
	}
	return
}

// featureKeys names the training and validation feature views by a hash of
// everything that determines them, for FeatureDir.
func (t *trainer) featureKeys() (map[string]string, error) {
	if t.cfg.FeatureDir == "" && t.cfg.Features == "" {
		return map[string]string{"train": "", "val": ""}, nil
	}
	wid := ""
	if t.weightsPath != "" {
		st, err := os.Stat(t.weightsPath)
		if err != nil {
			return nil, fmt.Errorf("feature cache: %w", err)
		}
		abs, _ := filepath.Abs(t.weightsPath)
		wid = fmt.Sprintf("%s %d %d", abs, st.Size(), st.ModTime().UnixNano())
	}
	key := func(l *data.Loader, augment *data.Augment, seed uint64, bf16 bool) string {
		h := sha256.New()
		m := t.clf.Meta
		fmt.Fprintf(h, "trashsort-features/1\n%s %d %s %s %g\n%s\n", m.Backbone, m.Size, m.Resize, m.Preprocess, m.Rescale, wid)
		aug, _ := json.Marshal(augment)
		fmt.Fprintf(h, "%s seed=%d bf16=%v\n", aug, seed, bf16)
		for _, it := range l.Dataset().Items {
			fmt.Fprintf(h, "%s\t%d\n", it.Path, it.Label)
		}
		return hex.EncodeToString(h.Sum(nil))[:24]
	}
	aug := t.cfg.Augment
	if t.cfg.CacheFeatures == 0 {
		aug = nil
	}
	return map[string]string{
		"train": key(t.trainL, aug, t.cfg.Seed, t.cfg.BF16),
		"val":   key(t.valL, nil, 0, false),
	}, nil
}

// cacheLayer is the layer whose output stage two's cache stores: the
// boundary below from, or CacheAt when it is set (a single-boundary layer at
// or below that boundary).
func (t *trainer) cacheLayer() (int, error) {
	b, err := stageTwoBoundary(t.m, t.from)
	if err != nil || t.cfg.CacheAt == "" {
		return b, err
	}
	at, err := unfreezeIndex(t.m, t.cfg.CacheAt, "")
	if err != nil {
		return 0, fmt.Errorf("cache-at: %w", err)
	}
	if at > b {
		return 0, fmt.Errorf("cache-at %s (layer %d) is above the layers stage two trains (their input is layer %d)", t.cfg.CacheAt, at, b)
	}
	if at+1 < len(t.m.Layers) {
		if nb, err := stageTwoBoundary(t.m, at+1); err != nil || nb != at {
			return 0, fmt.Errorf("cache-at %s (layer %d): later layers also read from below it; pick a block output such as mixed7", t.cfg.CacheAt, at)
		}
	}
	return at, nil
}

// buildFeatureCache runs the frozen layers once per view over the training
// set (and once over the validation set) and keeps the activations that feed
// stage one (the pooled features) and stage two (the cache layer).
func (t *trainer) buildFeatureCache(ctx context.Context) (src *cachedSource, err error) {
	boundary, err := t.cacheLayer()
	if err != nil {
		return nil, err
	}
	src = &cachedSource{t: t, boundary: boundary, views: max(t.cfg.CacheFeatures, 1)}
	built := src // the error returns set src to nil
	defer func() {
		if err != nil {
			built.close()
		}
	}()
	gap, cached := t.m.Layers[t.gapIdx].Base(), t.m.Layers[boundary].Base()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("trashsort-features-%d", os.Getpid()), "x")
	budget := t.cfg.CacheBudget
	ntr, nva := t.trainL.Len(), t.valL.Len()
	keys, err := t.featureKeys()
	if err != nil {
		return nil, err
	}
	// Training views are stored in bfloat16 where they are computed in it;
	// validation stays float32, so the recorded accuracy is float32's.
	store := func(l *nn.LayerBase, n, views int, bf16 bool, budget int64, key string) (*featureStore, error) {
		s, err := newFeatureStore(l.OutShape(), n, views, bf16, budget, dir)
		if err != nil {
			return nil, err
		}
		s.persist, s.key = t.cfg.FeatureDir, key+"-"+l.Name()
		if t.cfg.Features != "" {
			s.persist, s.shards = t.cfg.Features, true
		}
		return s, nil
	}
	if src.s1, err = store(gap, ntr, src.views, t.cfg.BF16, budget, keys["train"]); err != nil {
		return nil, err
	}
	if src.v1, err = store(gap, nva, 1, false, budget, keys["val"]); err != nil {
		return nil, err
	}
	if t.cfg.Epochs2 > 0 {
		if src.v2, err = store(cached, nva, 1, false, budget, keys["val"]); err != nil {
			return nil, err
		}
		if src.s2, err = store(cached, ntr, src.views, t.cfg.BF16, max(budget-src.v2.viewBytes(), 0), keys["train"]); err != nil {
			return nil, err
		}
		if t.cfg.Progress != nil {
			mem, disk := src.s2.bytes()
			fmt.Fprintf(t.cfg.Progress, "feature cache: %d views of %s %v (%.0f MB in memory, %.0f MB on disk)\n", src.views, cached.Name(), cached.OutShape(), float64(mem)/1e6, float64(disk)/1e6)
		}
	}
	t.m.SetTrainable(0, len(t.m.Layers), false)
	extract := func(l *data.Loader, view int, s1, s2 *featureStore, what string) error {
		if ok, err := s1.load(view); err != nil || ok {
			if ok && s2 != nil {
				ok, err = s2.load(view)
			}
			if err != nil {
				return err
			}
			if ok {
				if t.cfg.Progress != nil {
					fmt.Fprintf(t.cfg.Progress, "%s: read from %s\n", what, t.cfg.FeatureDir)
				}
				return nil
			}
		}
		outs := []int{t.gapIdx}
		if s2 != nil {
			outs = append(outs, boundary)
		}
		bar := newEpochBar(t.cfg.Progress, l.Batches(), what)
		start := time.Now()
		first := 0
		err := eachBatch(ctx, l, view, t.clf.Preprocess, func(x *tensor.Tensor, labels []int) error {
			res, err := t.m.Run(map[int]*tensor.Tensor{t.m.Inputs[0]: x}, outs, false)
			if err == nil {
				err = s1.put(view, first, res[0].Data)
			}
			if err == nil && s2 != nil {
				err = s2.put(view, first, res[1].Data)
			}
			first += len(labels)
			bar.step(0, 0, first, time.Since(start))
			return err
		})
		bar.done()
		if err != nil {
			return err
		}
		if err := s1.save(view); err != nil {
			return err
		}
		if s2 != nil {
			return s2.save(view)
		}
		return nil
	}
	// Feature extraction reads items in order: a loader without shuffling.
	cfg := t.trainL.Config()
	cfg.Shuffle = false
	if t.cfg.CacheFeatures == 0 {
		cfg.Augment = nil
	}
	ordered, err := data.NewLoader(t.trainL.Dataset(), cfg)
	if err != nil {
		return nil, err
	}
	ordered.Share(t.trainL)
	t.m.BF16 = t.cfg.BF16
	for v := 0; v < src.views; v++ {
		if err := extract(ordered, v, src.s1, src.s2, fmt.Sprintf("features view %d/%d", v+1, src.views)); err != nil {
			t.m.BF16 = false
			return nil, err
		}
	}
	t.m.BF16 = false
	if err := extract(t.valL, 0, src.v1, src.v2, "features val"); err != nil {
		return nil, err
	}
	return src, nil
}
