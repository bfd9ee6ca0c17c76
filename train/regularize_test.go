package train

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"trashsort/nn"
	"trashsort/tensor"
)

func TestScheduledLR(t *testing.T) {
	const base, plateau = 1e-2, 5e-3
	cases := []struct {
		name   string
		p, n   float64
		warm   float64
		cosine bool
		want   float64
	}{
		{"constant keeps the plateau rate", 3, 10, 0, false, plateau},
		{"warm-up start", 0, 10, 2, false, base * 1e-3 / 2},
		{"warm-up middle", 1, 10, 2, false, base / 2},
		{"after warm-up without cosine", 5, 10, 2, false, base},
		{"cosine at the start", 0, 10, 0, true, base},
		{"cosine at half", 5, 10, 0, true, base / 2},
		{"cosine at the end", 10, 10, 0, true, 0},
		{"cosine after warm-up starts at base", 2, 10, 2, true, base},
		{"cosine after warm-up, half way through the rest", 6, 10, 2, true, base / 2},
	}
	for _, c := range cases {
		got := scheduledLR(base, plateau, c.p, c.n, c.warm, c.cosine)
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: lr = %g, want %g", c.name, got, c.want)
		}
	}
}

func TestEMAUpdateAndSwap(t *testing.T) {
	p := &nn.Param{Name: "kernel", Value: tensor.New(3)}
	copy(p.Value.Data, []float32{1, 2, 3})
	e := newEMA(0.9, []*nn.Param{p})
	// Step 0: d = min(0.9, 1/10) = 0.1, so the average moves 90% of the way.
	copy(p.Value.Data, []float32{11, 12, 13})
	e.update()
	want := []float32{0.1*1 + 0.9*11, 0.1*2 + 0.9*12, 0.1*3 + 0.9*13}
	for i := range want {
		if math.Abs(float64(e.shadow[0][i]-want[i])) > 1e-5 {
			t.Fatalf("after one step shadow = %v, want %v", e.shadow[0], want)
		}
	}
	// Later steps use the configured decay: (1+t)/(10+t) exceeds 0.9 from t = 80.
	e.steps = 100
	if r := e.rate(); r != 0.9 {
		t.Fatalf("rate at step 100 = %g, want 0.9", r)
	}
	prev := append([]float32(nil), e.shadow[0]...)
	e.update()
	for i := range prev {
		w := 0.9*prev[i] + 0.1*p.Value.Data[i]
		if math.Abs(float64(e.shadow[0][i]-w)) > 1e-5 {
			t.Fatalf("shadow[%d] = %g, want %g", i, e.shadow[0][i], w)
		}
	}
	live := append([]float32(nil), p.Value.Data...)
	avg := append([]float32(nil), e.shadow[0]...)
	e.swap()
	for i := range live {
		if p.Value.Data[i] != avg[i] || e.shadow[0][i] != live[i] {
			t.Fatal("swap did not exchange live and averaged weights")
		}
	}
	e.swap()
	for i := range live {
		if p.Value.Data[i] != live[i] {
			t.Fatal("two swaps did not restore the live weights")
		}
	}
}

func TestMixup(t *testing.T) {
	x := tensor.New(4, 2)
	for i := 0; i < 4; i++ {
		x.Data[2*i], x.Data[2*i+1] = float32(i), float32(10*i)
	}
	orig := append([]float32(nil), x.Data...)
	m := newMixer(0.4, 7, 0)
	lam, perm := m.mix(x)
	if lam < 0 || lam > 1 {
		t.Fatalf("lam = %g outside [0, 1]", lam)
	}
	seen := map[int]bool{}
	for i, j := range perm {
		seen[j] = true
		for k := 0; k < 2; k++ {
			want := float32(lam)*orig[2*i+k] + float32(1-lam)*orig[2*j+k]
			if math.Abs(float64(x.Data[2*i+k]-want)) > 1e-5 {
				t.Fatalf("row %d: %g, want lam*x[%d] + (1-lam)*x[%d] = %g", i, x.Data[2*i+k], i, j, want)
			}
		}
	}
	if len(seen) != 4 {
		t.Fatalf("partners %v are not a permutation", perm)
	}
	// The loss of mixed targets equals the mix of the two labels' losses,
	// and its gradient the mix of theirs; the mixed target sums to one.
	probs := tensor.New(2, 3)
	copy(probs.Data, []float32{0.2, 0.5, 0.3, 0.6, 0.3, 0.1})
	ce := nn.CategoricalCrossentropy{LabelSmoothing: 0.1}
	la, ga, _ := ce.Compute(probs, []int{0, 1})
	lb, gb, _ := ce.Compute(probs, []int{2, 0})
	l := 0.3*la + 0.7*lb
	var direct float64
	for i, pair := range [][2]int{{0, 2}, {1, 0}} {
		var sum float64
		for c := 0; c < 3; c++ {
			tgt := 0.1 / 3
			if c == pair[0] {
				tgt += 0.3 * 0.9
			}
			if c == pair[1] {
				tgt += 0.7 * 0.9
			}
			sum += tgt
			direct -= tgt * math.Log(float64(probs.Data[i*3+c]))
			g := 0.3*ga.Data[i*3+c] + 0.7*gb.Data[i*3+c]
			if want := (float64(probs.Data[i*3+c]) - tgt) / 2; math.Abs(float64(g)-want) > 1e-6 {
				t.Fatalf("mixed gradient %g, want p - target = %g", g, want)
			}
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Fatalf("mixed target sums to %g", sum)
		}
	}
	if math.Abs(l-direct/2) > 1e-5 {
		t.Fatalf("mixed loss %g, want cross-entropy with mixed targets %g", l, direct/2)
	}
}

func TestBetaSample(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, a := range []float64{0.2, 1, 3} {
		var sum, sq float64
		const n = 40000
		for i := 0; i < n; i++ {
			x := betaSample(r, a)
			if x < 0 || x > 1 {
				t.Fatalf("Beta(%g) sample %g outside [0, 1]", a, x)
			}
			sum += x
			sq += x * x
		}
		mean, v := sum/n, sq/n-(sum/n)*(sum/n)
		wantVar := 1 / (4 * (2*a + 1)) // Beta(a, a): a^2 / ((2a)^2 (2a+1))
		if math.Abs(mean-0.5) > 0.01 || math.Abs(v-wantVar) > 0.01 {
			t.Errorf("Beta(%g, %g): mean %.4f variance %.4f, want 0.5 and %.4f", a, a, mean, v, wantVar)
		}
	}
}

func TestBF16Bits(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{0, 0},
		{math.Float32frombits(0x3f808000), 0x3f80}, // a tie rounds to even (down)
		{math.Float32frombits(0x3f818000), 0x3f82}, // a tie rounds to even (up)
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie rounds up
		{float32(math.Inf(1)), 0x7f80},
	}
	for _, c := range cases {
		if got := bf16Bits(c.in); got != c.want {
			t.Errorf("bf16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if got := bf16Bits(float32(math.NaN())); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("bf16(NaN) = %#04x is not a NaN", got)
	}
}

func TestFeatureStore(t *testing.T) {
	for _, bf16 := range []bool{false, true} {
		for _, budget := range []int64{1 << 20, 0} { // in memory, spilled to a file
			dir := t.TempDir()
			s, err := newFeatureStore([]int{2, 3}, 4, 2, bf16, budget, dir+"/spill")
			if err != nil {
				t.Fatal(err)
			}
			s.persist, s.key = dir+"/keep", "k"
			x := make([]float32, 4*6)
			for i := range x {
				x[i] = float32(i)*1.25 - 7
			}
			if err := s.put(1, 0, x[:12]); err != nil {
				t.Fatal(err)
			}
			if err := s.put(1, 2, x[12:]); err != nil {
				t.Fatal(err)
			}
			got, err := s.gather(1, []int{3, 0})
			if err != nil {
				t.Fatal(err)
			}
			want := append(append([]float32(nil), x[18:24]...), x[0:6]...)
			for i := range want {
				if got.Data[i] != want[i] { // these values are exact in bfloat16
					t.Fatalf("bf16=%v budget=%d: gather = %v, want %v", bf16, budget, got.Data, want)
				}
			}
			if err := s.save(1); err != nil {
				t.Fatal(err)
			}
			s.close()
			// A new store with the same key reads the view back; another view is absent.
			s2, err := newFeatureStore([]int{2, 3}, 4, 2, bf16, budget, dir+"/spill2")
			if err != nil {
				t.Fatal(err)
			}
			s2.persist, s2.key = dir+"/keep", "k"
			if ok, err := s2.load(0); ok || err != nil {
				t.Fatalf("view 0 was never saved: load = %v, %v", ok, err)
			}
			if ok, err := s2.load(1); !ok || err != nil {
				t.Fatalf("load of a saved view = %v, %v", ok, err)
			}
			again, _ := s2.gather(1, []int{3, 0})
			for i := range want {
				if again.Data[i] != want[i] {
					t.Fatalf("reloaded view differs: %v, want %v", again.Data, want)
				}
			}
			// A truncated file is not used.
			if err := os.Truncate(s2.persistPath(1), 10); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s2.load(1); ok {
				t.Fatal("a truncated view file was accepted")
			}
			s2.close()
		}
	}
}
