package data

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func fakeSet(classes []string, perClass int, prefix string) *Dataset {
	d := &Dataset{Classes: classes}
	for c := range classes {
		for i := 0; i < perClass; i++ {
			d.Items = append(d.Items, Item{Path: fmt.Sprintf("%s/%d/%d.jpg", prefix, c, i), Label: c})
		}
	}
	return d
}

func TestCombine(t *testing.T) {
	classes := []string{"a", "b"}
	a, b := fakeSet(classes, 6, "A"), fakeSet(classes, 2, "B")
	ds, err := Combine(Part{Name: "A", Set: a}, Part{Name: "B", Weight: 3, Set: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 16 || !slices.Equal(ds.Origins, []Origin{{"A", 1}, {"B", 3}}) {
		t.Fatalf("items %d origins %v", len(ds.Items), ds.Origins)
	}
	if got := ds.FromOrigin(1); len(got.Items) != 4 || !strings.HasPrefix(got.Items[0].Path, "B/") {
		t.Fatalf("FromOrigin(1) = %v", got.Items)
	}
	for _, tc := range []struct {
		name  string
		parts []Part
		want  string
	}{
		{"classes differ", []Part{{Name: "A", Set: a}, {Name: "C", Set: fakeSet([]string{"a"}, 1, "C")}}, "C has classes a"},
		{"negative weight", []Part{{Name: "A", Set: a}, {Name: "B", Weight: -1, Set: b}}, "B: weight -1"},
		{"NaN weight", []Part{{Name: "A", Set: a}, {Name: "B", Weight: math.NaN(), Set: b}}, "weight NaN"},
		{"none", nil, "no datasets"},
		{"empty", []Part{{Name: "A", Set: a}, {Name: "E", Set: &Dataset{Classes: classes}}}, "E holds no images"},
	} {
		if _, err := Combine(tc.parts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Equal weights keep the plain shuffle (every item once); unequal ones
// draw each item in proportion to its origin's weight.
func TestWeightedOrder(t *testing.T) {
	classes := []string{"a", "b"}
	a, b := fakeSet(classes, 50, "A"), fakeSet(classes, 10, "B")
	plain, _ := Combine(Part{Name: "A", Set: a}, Part{Name: "B", Set: b})
	cfg := Config{Size: 8, Shuffle: true, Seed: 3}
	lp, err := NewLoader(plain, cfg)
	if err != nil {
		t.Fatal(err)
	}
	single := &Dataset{Classes: classes, Items: plain.Items}
	ls, _ := NewLoader(single, cfg)
	if !slices.Equal(lp.Order(2), ls.Order(2)) {
		t.Fatal("equal weights changed the epoch order")
	}
	weighted, _ := Combine(Part{Name: "A", Set: a}, Part{Name: "B", Weight: 4, Set: b})
	lw, _ := NewLoader(weighted, cfg)
	per := [2]float64{}
	for e := 0; e < 200; e++ {
		order := lw.Order(e)
		if len(order) != len(weighted.Items) {
			t.Fatalf("epoch of %d draws, want %d", len(order), len(weighted.Items))
		}
		for _, i := range order {
			per[weighted.Items[i].Origin]++
		}
	}
	// Per item: A's 100 items weight 1, B's 20 items weight 4.
	ratio := (per[1] / 20) / (per[0] / 100)
	if math.Abs(ratio-4) > 0.3 {
		t.Fatalf("B's items drawn %.2f times as often as A's, want 4", ratio)
	}
	if !slices.Equal(lw.Order(5), lw.Order(5)) {
		t.Fatal("weighted order is not deterministic")
	}
}

func TestStratifiedSplit(t *testing.T) {
	// Classes a and b hold 5 photos, c one (which stays in training).
	ds := fakeSet([]string{"a", "b"}, 5, "S")
	ds.Classes = append(ds.Classes, "c")
	ds.Items = append(ds.Items, Item{Path: "S/2/only.jpg", Label: 2})
	tr, va, err := ds.StratifiedSplit(0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, it := range append(append([]Item{}, tr.Items...), va.Items...) {
		if seen[it.Path] {
			t.Fatalf("%s on both sides", it.Path)
		}
		seen[it.Path] = true
	}
	if len(seen) != len(ds.Items) {
		t.Fatalf("split holds %d of %d items", len(seen), len(ds.Items))
	}
	if trc, vac := tr.Counts(), va.Counts(); !slices.Equal(trc, []int{4, 4, 1}) || !slices.Equal(vac, []int{1, 1, 0}) {
		t.Errorf("train counts %v, val counts %v", trc, vac)
	}
	if _, _, err := ds.StratifiedSplit(1, 1); err == nil {
		t.Error("fraction 1 accepted")
	}
}

// TestFromSiteFollowsLinkedFolders: a site assembled from links to other
// folders reads their photos.
func TestFromSiteFollowsLinkedFolders(t *testing.T) {
	real, site := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(real, "a.jpg"), []byte("x"), 0o644)
	if err := os.Symlink(real, filepath.Join(site, "boxes")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	s, err := FromSite(site, []string{"cardboard", "glass"}, Mapping{"boxes": ptr("cardboard")})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Known.Items) != 1 || s.Known.Items[0].Label != 0 {
		t.Fatalf("items %v", s.Known.Items)
	}
}

func ptr(s string) *string { return &s }
