package models

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"trashsort/h5"
	"trashsort/internal/shared"
	"trashsort/nn"
)

// writeKerasFile writes m's weights in the layout of the official
// keras.applications files (Keras 2 save_weights): root attribute
// layer_names, one group per layer with attribute weight_names, datasets
// at <layer>/<layer>/<weight>:0 (a Normalization's count as int64). Layers
// named in omit are left out, as a file from an older Keras lacks layers
// added since.
func writeKerasFile(t *testing.T, m *nn.Model, path string, omit ...string) {
	t.Helper()
	f, err := h5.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range m.Layers {
		if !slices.Contains(omit, l.Base().Name()) {
			names = append(names, l.Base().Name())
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.WriteStrings("/", "layer_names", names))
	must(f.WriteStrings("/", "backend", []string{"tensorflow"}))
	must(f.WriteStrings("/", "keras_version", []string{"2.9.0"}))
	for _, name := range names {
		l, _ := m.Layer(name)
		var wn []string
		for _, p := range l.Params() {
			w := name + "/" + p.Name + ":0"
			wn = append(wn, w)
			write := f.WriteFloat32
			if _, ok := l.(*nn.Normalization); ok && p.Name == "count" {
				write = f.WriteInt64
			}
			must(write(name+"/"+w, p.Value.Shape, p.Value.Data))
		}
		must(f.WriteStrings(name, "weight_names", wn))
	}
	must(f.Close())
}

// randomize fills every weight with seeded random values (variances positive).
func randomize(m *nn.Model, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	for _, l := range m.Layers {
		for _, p := range l.Params() {
			for i := range p.Value.Data {
				v := float32(r.NormFloat64())
				switch {
				case strings.Contains(p.Name, "variance"):
					v = v*v + 0.5
				case p.Name == "count":
					v = float32(r.IntN(1000000))
				}
				p.Value.Data[i] = v
			}
			p.Touch()
		}
	}
}

// TestKerasLayoutWriterMatchesOfficialFile checks the test writer against an
// official file: the same layer and weight names at the same places.
func TestKerasLayoutWriterMatchesOfficialFile(t *testing.T) {
	official := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	m := build(t, "mobilenet_v2_035", Options{Size: 96})
	if err := LoadKerasWeights(m, official); err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(t.TempDir(), "ours.h5")
	writeKerasFile(t, m, ours)
	a, err := h5.Open(official)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := h5.Open(ours)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ln, _ := a.Strings("/", "layer_names")
	ln2, _ := b.Strings("/", "layer_names")
	if strings.Join(ln, ",") != strings.Join(ln2, ",") {
		t.Fatalf("layer_names differ:\n%v\n%v", ln, ln2)
	}
	for _, name := range ln {
		wa, _ := a.Strings(name, "weight_names")
		wb, _ := b.Strings(name, "weight_names")
		if strings.Join(wa, ",") != strings.Join(wb, ",") {
			t.Errorf("%s: weight_names %v, official %v", name, wb, wa)
		}
		for _, w := range wa {
			sa, da, err := a.Float32(name + "/" + w)
			if err != nil {
				t.Fatal(err)
			}
			sb, db, err := b.Float32(name + "/" + w)
			if err != nil || len(sa) != len(sb) || tensorDiff(da, db) {
				t.Errorf("%s/%s: %v %v %v", name, w, sa, sb, err)
			}
		}
	}
}

func tensorDiff(a, b []float32) bool {
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return true
		}
	}
	return false
}

// TestLoadKerasLayoutFile loads a Keras-layout file of random weights by
// layer name into a fresh model and checks every weight.
func TestLoadKerasLayoutFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		omit []string
	}{
		{"mobilenet_v2_035", nil},
		{"resnet50", nil},
		// The official file predates rescaling_1, which has no weights.
		{"efficientnet_b0", []string{"rescaling_1"}},
	} {
		name := tc.name
		t.Run(name, func(t *testing.T) {
			s, _ := Get(name)
			src := build(t, name, Options{Size: s.MinSize})
			randomize(src, 7)
			path := filepath.Join(t.TempDir(), s.NoTop.File)
			writeKerasFile(t, src, path, tc.omit...)
			dst := build(t, name, Options{Size: s.MinSize})
			if err := LoadKerasWeights(dst, path); err != nil {
				t.Fatal(err)
			}
			n := 0
			for i, l := range src.Layers {
				for k, p := range l.Params() {
					q := dst.Layers[i].Params()[k]
					n += p.Value.Len()
					if tensorDiff(p.Value.Data, q.Value.Data) {
						t.Errorf("%s/%s differs after loading", l.Base().Name(), p.Name)
					}
				}
			}
			if total, _, _ := dst.ParamCounts(); n != total {
				t.Errorf("compared %d values of %d", n, total)
			}
		})
	}
}
