package data

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Mapping maps a dataset's folder names to a model's classes: a class
// name, or nil (JSON null) for a folder of things that are none of the
// classes (the open-set case: food at a waste site).
type Mapping map[string]*string

// maxMappingBytes bounds a mapping file: a folder list, not data.
const maxMappingBytes = 1 << 20

// ReadMapping reads a mapping file: one JSON object of folder name to
// class name or null.
func ReadMapping(path string) (Mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMappingBytes+1))
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	if len(b) > maxMappingBytes {
		return nil, fmt.Errorf("mapping %s: larger than %d bytes", path, maxMappingBytes)
	}
	var m Mapping
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("mapping %s: want a JSON object of folder to class or null: %w", path, err)
	}
	return m, nil
}

// Site is a folder of labelled photos scored against a model's classes
// as it is: some classes may be missing (a site without glass), and some
// folders may hold things that are none of the classes.
type Site struct {
	// Known holds the photos of the model's classes, labelled with the
	// model's class indices (Classes is the model's list).
	Known *Dataset
	// Unknown holds the photos of folders mapped to none of the classes,
	// as one class named "unknown".
	Unknown *Dataset
	// Absent lists the model's classes that no folder maps to or holds.
	Absent []string
}

// FromSite reads root/<folder>/... against classes. With a mapping, each
// folder is mapped by it (a folder the mapping does not name must be a
// class name); without one, each folder must be a class name. A class
// with no photos is absent, not an error.
func FromSite(root string, classes []string, m Mapping) (*Site, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	index := map[string]int{}
	for i, c := range classes {
		index[c] = i
	}
	for folder, c := range m {
		if c != nil {
			if _, ok := index[*c]; !ok {
				return nil, fmt.Errorf("site %s: mapping sends folder %q to %q, which is not one of the classes %s", root, folder, *c, strings.Join(classes, ", "))
			}
		}
	}
	s := &Site{
		Known:   &Dataset{Root: root, Classes: classes},
		Unknown: &Dataset{Root: root, Classes: []string{"unknown"}},
	}
	count := make([]int, len(classes))
	var unmapped []string
	for _, e := range entries {
		if !isDir(root, e) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := e.Name()
		label, known := -1, false
		if c, ok := m[name]; ok {
			if c != nil {
				label, known = index[*c], true
			}
		} else if i, ok := index[name]; ok {
			label, known = i, true
		} else {
			unmapped = append(unmapped, name)
			continue
		}
		dir := filepath.Join(root, name)
		if e.Type()&os.ModeSymlink != 0 {
			// WalkDir does not descend into a linked root.
			if dir, err = filepath.EvalSymlinks(dir); err != nil {
				return nil, fmt.Errorf("site: folder %q: %w", name, err)
			}
		}
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() || !IsImageName(e.Name()) {
				return nil
			}
			if known {
				s.Known.Items = append(s.Known.Items, Item{Path: p, Label: label})
				count[label]++
			} else {
				s.Unknown.Items = append(s.Unknown.Items, Item{Path: p})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("site: folder %q: %w", name, err)
		}
	}
	if len(unmapped) > 0 {
		sort.Strings(unmapped)
		return nil, fmt.Errorf("site %s: folders %s are neither classes (%s) nor named in the mapping", root, strings.Join(unmapped, ", "), strings.Join(classes, ", "))
	}
	for i, n := range count {
		if n == 0 {
			s.Absent = append(s.Absent, classes[i])
		}
	}
	if len(s.Known.Items) == 0 {
		return nil, fmt.Errorf("site %s: no photos of any of the classes %s", root, strings.Join(classes, ", "))
	}
	return s, nil
}

// FromPhotos reads every image file below root, in any folder layout, as
// one unlabelled set (for adaptation: labels are not used).
func FromPhotos(root string) (*Dataset, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("photos: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("photos: %s is not a folder", root)
	}
	d := &Dataset{Root: root, Classes: []string{"photos"}}
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && p != root && strings.HasPrefix(e.Name(), ".") {
			return filepath.SkipDir
		}
		if !e.IsDir() && IsImageName(e.Name()) {
			d.Items = append(d.Items, Item{Path: p})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("photos: %w", err)
	}
	if len(d.Items) == 0 {
		return nil, fmt.Errorf("photos: no images (jpg, jpeg, png, bmp, gif, webp) below %s", root)
	}
	return d, nil
}

// Classes are the distinct class names the mapping maps to, sorted.
func (m Mapping) Classes() []string {
	seen := map[string]bool{}
	var cs []string
	for _, c := range m {
		if c != nil && !seen[*c] {
			seen[*c] = true
			cs = append(cs, *c)
		}
	}
	sort.Strings(cs)
	return cs
}

// StratifiedFolds splits ds's items into k folds of item indices, each
// class dealt round-robin over the folds after a seeded shuffle, so that
// every fold holds about 1/k of every class. Every item is in exactly one
// fold.
func StratifiedFolds(ds *Dataset, k int, seed uint64) ([][]int, error) {
	if k < 2 {
		return nil, fmt.Errorf("folds: want at least 2, got %d", k)
	}
	byClass := map[int][]int{}
	for i, it := range ds.Items {
		byClass[it.Label] = append(byClass[it.Label], i)
	}
	for c, items := range byClass {
		if len(items) < k {
			return nil, fmt.Errorf("folds: class %q has %d photos, fewer than the %d folds", ds.Classes[c], len(items), k)
		}
	}
	labels := make([]int, 0, len(byClass))
	for c := range byClass {
		labels = append(labels, c)
	}
	sort.Ints(labels)
	folds := make([][]int, k)
	r := rand.New(rand.NewPCG(seed, 0x666f6c64))
	next := 0
	for _, c := range labels {
		items := byClass[c]
		r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		for _, i := range items {
			folds[next%k] = append(folds[next%k], i)
			next++
		}
	}
	return folds, nil
}

// Select returns the dataset of the given items of ds.
func (d *Dataset) Select(items []int) *Dataset {
	out := &Dataset{Root: d.Root, Classes: d.Classes, Origins: d.Origins}
	for _, i := range items {
		out.Items = append(out.Items, d.Items[i])
	}
	return out
}

// isDir reports whether entry e of root is a folder, following a symbolic
// link (a site assembled from links to other folders).
func isDir(root string, e os.DirEntry) bool {
	if e.Type()&os.ModeSymlink != 0 {
		st, err := os.Stat(filepath.Join(root, e.Name()))
		return err == nil && st.IsDir()
	}
	return e.IsDir()
}
