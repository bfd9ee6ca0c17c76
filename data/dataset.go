// Package data reads image classification datasets laid out as class
// folders (Keras' flow_from_directory), TrashNet's split lists, and
// provides Keras-compatible augmentation and fast, deterministic batching.
package data

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Item is one example: an image file and its class index.
type Item struct {
	Path  string
	Label int
	// Origin indexes Dataset.Origins: the dataset the item came from in a
	// combined set (0 otherwise).
	Origin int
}

// Dataset is a list of labelled image files.
type Dataset struct {
	Root    string
	Classes []string
	Items   []Item
	// Origins are the datasets a combined set was made of (Combine), with
	// their sampling weights; nil for a set read from one place.
	Origins []Origin
}

var imageExt = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".gif": true, ".webp": true}

// IsImageName reports whether a file name has an image extension we decode.
func IsImageName(name string) bool { return imageExt[strings.ToLower(filepath.Ext(name))] }

// FromFolder reads root/<class>/... : sorted folder names are the classes
// (Keras' order), and every image file below a class folder is an example.
// With classes given, exactly those folders are used, in that order.
func FromFolder(root string, classes []string) (*Dataset, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("dataset: %s is not a folder", root)
	}
	if classes == nil {
		entries, err := os.ReadDir(root)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				classes = append(classes, e.Name())
			}
		}
		sort.Strings(classes)
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("dataset: %s has no class folders (want %s/<class>/<image>)", root, root)
	}
	d := &Dataset{Root: root, Classes: classes}
	for label, c := range classes {
		dir := filepath.Join(root, c)
		n := 0
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && IsImageName(e.Name()) {
				d.Items = append(d.Items, Item{Path: p, Label: label})
				n++
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("dataset: class %q: %w", c, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("dataset: class folder %s holds no images (jpg, jpeg, png, bmp, gif, webp)", dir)
		}
	}
	return d, nil
}

// FromSplitFolders reads root/train and root/val, the validation set with
// the training set's classes.
func FromSplitFolders(root string) (train, val *Dataset, err error) {
	if train, err = FromFolder(filepath.Join(root, "train"), nil); err != nil {
		return nil, nil, err
	}
	if val, err = FromFolder(filepath.Join(root, "val"), train.Classes); err != nil {
		return nil, nil, err
	}
	return train, val, nil
}

// ParseSplitFile reads a split list of "<file> <label>" lines (TrashNet's
// one-indexed-files lists). Blank lines and lines starting with # are
// skipped; errors name the line.
func ParseSplitFile(path string) ([]string, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var files []string
	var labels []int
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 2 {
			return nil, nil, fmt.Errorf("%s:%d: want \"<file> <label>\", got %q", path, ln, line)
		}
		l, err := strconv.Atoi(parts[1])
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: label %q is not an integer", path, ln, parts[1])
		}
		files = append(files, parts[0])
		labels = append(labels, l)
	}
	return files, labels, sc.Err()
}

// FromSplitFile builds a dataset from a split list whose files live under
// root (directly, or in a folder named after their class). names maps the
// file's labels to class names; the classes are the sorted names.
func FromSplitFile(root, listPath string, names map[int]string) (*Dataset, error) {
	files, labels, err := ParseSplitFile(listPath)
	if err != nil {
		return nil, err
	}
	var classes []string
	for _, n := range names {
		classes = append(classes, n)
	}
	sort.Strings(classes)
	idx := map[string]int{}
	for i, c := range classes {
		idx[c] = i
	}
	d := &Dataset{Root: root, Classes: classes}
	for i, f := range files {
		name, ok := names[labels[i]]
		if !ok {
			return nil, fmt.Errorf("%s: file %s has unknown label %d", listPath, f, labels[i])
		}
		p := filepath.Join(root, name, f)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			p = filepath.Join(root, f)
		}
		d.Items = append(d.Items, Item{Path: p, Label: idx[name]})
	}
	return d, nil
}

// Counts returns the number of examples per class.
func (d *Dataset) Counts() []int {
	c := make([]int, len(d.Classes))
	for _, it := range d.Items {
		c[it.Label]++
	}
	return c
}

// Describe is a one-line summary with per-class counts.
func (d *Dataset) Describe() string {
	var parts []string
	for i, n := range d.Counts() {
		parts = append(parts, fmt.Sprintf("%s %d", d.Classes[i], n))
	}
	return fmt.Sprintf("%d images in %d classes (%s)", len(d.Items), len(d.Classes), strings.Join(parts, ", "))
}

// Split shuffles the items with seed and holds out a fraction for
// validation, like image_dataset_from_directory's validation_split.
func (d *Dataset) Split(frac float64, seed uint64) (train, val *Dataset, err error) {
	if frac <= 0 || frac >= 1 {
		return nil, nil, fmt.Errorf("dataset: validation fraction %g outside (0, 1)", frac)
	}
	items := append([]Item(nil), d.Items...)
	r := rand.New(rand.NewPCG(seed, 0x5911))
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	nv := int(float64(len(items)) * frac)
	val = &Dataset{Root: d.Root, Classes: d.Classes, Items: items[:nv], Origins: d.Origins}
	train = &Dataset{Root: d.Root, Classes: d.Classes, Items: items[nv:], Origins: d.Origins}
	return train, val, nil
}

// Subset keeps at most perClass examples of each class, in order.
func (d *Dataset) Subset(perClass int) *Dataset {
	out := &Dataset{Root: d.Root, Classes: d.Classes, Origins: d.Origins}
	seen := make([]int, len(d.Classes))
	for _, it := range d.Items {
		if seen[it.Label] < perClass {
			out.Items = append(out.Items, it)
			seen[it.Label]++
		}
	}
	return out
}

// BalancedClassWeights returns n / (k * count_c) per class, like
// scikit-learn's compute_class_weight("balanced").
func (d *Dataset) BalancedClassWeights() []float32 {
	counts := d.Counts()
	w := make([]float32, len(counts))
	for i, c := range counts {
		if c > 0 {
			w[i] = float32(float64(len(d.Items)) / float64(len(counts)*c))
		}
	}
	return w
}
