package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/internal/testimages"
)

func TestFromSite(t *testing.T) {
	root := t.TempDir()
	testimages.ClassFolders(t, root, []string{"brown_box", "cup", "food", "metal"}, 2)
	classes := []string{"cardboard", "glass", "metal", "plastic"}
	str := func(s string) *string { return &s }
	m := Mapping{"brown_box": str("cardboard"), "cup": str("plastic"), "food": nil}
	s, err := FromSite(root, classes, m)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]int{}
	for _, it := range s.Known.Items {
		got[it.Label]++
	}
	if want := map[int]int{0: 2, 2: 2, 3: 2}; len(got) != len(want) || got[0] != 2 || got[2] != 2 || got[3] != 2 {
		t.Fatalf("labels %v, want %v (metal by its own name)", got, want)
	}
	if len(s.Unknown.Items) != 2 || !strings.Contains(s.Unknown.Items[0].Path, "food") {
		t.Fatalf("unknown items %v", s.Unknown.Items)
	}
	if strings.Join(s.Absent, ",") != "glass" {
		t.Fatalf("absent %v, want glass", s.Absent)
	}

	for _, tc := range []struct {
		name string
		m    Mapping
		want string
	}{
		{"unmapped folder", Mapping{"brown_box": str("cardboard")}, "neither classes"},
		{"mapping to an unknown class", Mapping{"brown_box": str("wood"), "cup": nil, "food": nil}, `"wood"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromSite(root, classes, tc.m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestReadMapping(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.json")
	os.WriteFile(p, []byte(`{"a": "cardboard", "b": null}`), 0o644)
	m, err := ReadMapping(p)
	if err != nil {
		t.Fatal(err)
	}
	if *m["a"] != "cardboard" || m["b"] != nil || len(m) != 2 {
		t.Fatalf("mapping %v", m)
	}
	os.WriteFile(p, []byte(`["a"]`), 0o644)
	if _, err := ReadMapping(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("a JSON list: error %v, want one naming the file", err)
	}
}

func TestStratifiedFolds(t *testing.T) {
	ds := &Dataset{Classes: []string{"a", "b"}}
	for i := 0; i < 10; i++ {
		ds.Items = append(ds.Items, Item{Path: string(rune('a' + i)), Label: i % 2})
	}
	folds, err := StratifiedFolds(ds, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for _, f := range folds {
		perClass := [2]int{}
		for _, i := range f {
			seen[i]++
			perClass[ds.Items[i].Label]++
		}
		if perClass != [2]int{1, 1} {
			t.Fatalf("fold %v holds %v of each class, want one", f, perClass)
		}
	}
	if len(seen) != 10 {
		t.Fatalf("%d of 10 items in the folds", len(seen))
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("item %d in %d folds", i, n)
		}
	}
	if _, err := StratifiedFolds(ds, 6, 1); err == nil {
		t.Fatal("a class with fewer photos than folds was accepted")
	}
}
