package models

import (
	"math"
	"testing"

	"trashsort/nn"
)

// countMACs counts the multiply-adds of convolutions and dense layers: one
// per kernel weight per output position.
func countMACs(m *nn.Model) float64 {
	var n float64
	for _, l := range m.Layers {
		switch l := l.(type) {
		case *nn.Conv2D:
			s := l.Base().OutShape()
			n += float64(s[0]*s[1]) * float64(l.Params()[0].Value.Len())
		case *nn.Dense:
			n += float64(l.Params()[0].Value.Len())
		}
	}
	return n
}

// TestRegistryMACs checks each backbone's registered cost at its default
// size against a count over its built layers.
func TestRegistryMACs(t *testing.T) {
	for _, name := range Names() {
		s, _ := Get(name)
		got := countMACs(build(t, name, Options{}))
		want := s.FLOPs(0) / 2
		t.Logf("%s: %.4g multiply-adds counted, %.4g registered", name, got, want)
		if math.Abs(got-want) > 0.005*got {
			t.Errorf("%s at %d px: %.4g multiply-adds counted, the registry says %.4g", name, s.DefaultSize, got, want)
		}
		if r := s.FLOPs(2*s.DefaultSize) / s.FLOPs(s.DefaultSize); r != 4 {
			t.Errorf("%s: FLOPs at twice the size are %gx, want 4x", name, r)
		}
	}
}
