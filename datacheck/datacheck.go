// Package datacheck audits an image dataset laid out as class folders (or
// as train/val/test folders of class folders): per-class counts,
// unreadable files, exact duplicates (same bytes), near-duplicates (a
// perceptual hash within a Hamming distance) and duplicates that cross
// splits (leakage between training and evaluation data) or classes
// (conflicting labels).
package datacheck

import (
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/corona10/goimagehash"

	"trashsort/data"
	"trashsort/internal/disjoint"
)

// Splits are the folder names read as splits when DIR holds any of them.
var Splits = []string{"train", "val", "test"}

// DefaultNear is the default Hamming distance (of 64 bits, see Distance)
// within which two images count as near-duplicates.
const DefaultNear = 6

// Options tune a check.
type Options struct {
	// Near is the largest Hamming distance between 64-bit perceptual hashes
	// that counts as a near-duplicate (default DefaultNear; negative turns
	// the near-duplicate search off).
	Near int
	// Workers read and hash files in parallel (default GOMAXPROCS).
	Workers int
}

// File is one image of the dataset.
type File struct {
	Path  string `json:"path"` // relative to the checked folder
	Split string `json:"split,omitempty"`
	Class string `json:"class"`
}

// Unreadable is a file with an image name that does not decode.
type Unreadable struct {
	File
	Error string `json:"error"`
}

// Group is a set of duplicate files.
type Group struct {
	Files []File `json:"files"`
	// Distance is the largest Hamming distance inside a near-duplicate group (0 for exact).
	Distance int `json:"distance"`
	// CrossSplit: the group spans splits (leakage); CrossClass: it spans classes (conflicting labels).
	CrossSplit bool `json:"cross_split"`
	CrossClass bool `json:"cross_class"`
}

// Report is the result of a check.
type Report struct {
	Dir     string   `json:"dir"`
	Splits  []string `json:"splits"` // [""] when the folder is not split
	Classes []string `json:"classes"`
	// Counts[split][class] is the number of image files.
	Counts     map[string]map[string]int `json:"counts"`
	Images     int                       `json:"images"`
	Unreadable []Unreadable              `json:"unreadable"`
	Exact      []Group                   `json:"exact_duplicates"`
	Near       []Group                   `json:"near_duplicates"`
	NearBits   int                       `json:"near_threshold_bits"`
	// Leaks counts the images outside train with an exact or near duplicate in train.
	Leaks map[string]int `json:"leaks"`
	// Corrections, for a folder the service stored corrections in (one
	// holding data.CorrectionOriginLog), says where each photo came from.
	Corrections *Corrections `json:"corrections,omitempty"`
}

// Corrections lists a corrections folder's photos with their origin.
type Corrections struct {
	// Records are the origin log's records of photos the folder holds.
	Records []data.CorrectionOrigin `json:"records"`
	// Unrecorded are photos without a record: put there by hand, or
	// stored while the log could not be written.
	Unrecorded []string `json:"unrecorded"`
	// Removed are records whose photo the folder no longer holds.
	Removed []string `json:"removed"`
	// BadLines are the log's lines that are not records.
	BadLines []int `json:"bad_lines"`
}

// corrections reads dir's origin log against the files found there.
func corrections(dir string, files []*entry) (*Corrections, error) {
	if _, err := os.Stat(filepath.Join(dir, data.CorrectionOriginLog)); err != nil {
		return nil, nil
	}
	recs, bad, err := data.ReadCorrectionOrigins(dir)
	if err != nil {
		return nil, fmt.Errorf("data check: %w", err)
	}
	c := &Corrections{Records: []data.CorrectionOrigin{}, Unrecorded: []string{}, Removed: []string{}, BadLines: bad}
	held := map[string]bool{}
	for _, e := range files {
		held[filepath.ToSlash(e.Path)] = true
	}
	recorded := map[string]bool{}
	for _, r := range recs {
		if recorded[r.File] {
			continue
		}
		recorded[r.File] = true
		if held[r.File] {
			c.Records = append(c.Records, r)
		} else {
			c.Removed = append(c.Removed, r.File)
		}
	}
	for _, e := range files {
		if p := filepath.ToSlash(e.Path); !recorded[p] {
			c.Unrecorded = append(c.Unrecorded, p)
		}
	}
	return c, nil
}

type entry struct {
	File
	sum  [sha256.Size]byte
	hash Hash
	ok   bool
}

// Check audits dir.
func Check(ctx context.Context, dir string, o Options) (*Report, error) {
	if o.Near == 0 {
		o.Near = DefaultNear
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	r := &Report{Dir: dir, Counts: map[string]map[string]int{}, NearBits: max(o.Near, 0), Leaks: map[string]int{}}
	for _, s := range Splits {
		if st, err := os.Stat(filepath.Join(dir, s)); err == nil && st.IsDir() {
			r.Splits = append(r.Splits, s)
		}
	}
	if len(r.Splits) == 0 {
		r.Splits = []string{""}
	}
	classSet := map[string]bool{}
	var entries []*entry
	for _, s := range r.Splits {
		ds, err := data.FromFolder(filepath.Join(dir, s), nil)
		if err != nil {
			return nil, fmt.Errorf("data check: %w", err)
		}
		r.Counts[s] = map[string]int{}
		for _, c := range ds.Classes {
			classSet[c] = true
			r.Counts[s][c] = 0
		}
		for _, it := range ds.Items {
			rel, err := filepath.Rel(dir, it.Path)
			if err != nil {
				rel = it.Path
			}
			c := ds.Classes[it.Label]
			r.Counts[s][c]++
			entries = append(entries, &entry{File: File{Path: rel, Split: s, Class: c}})
		}
	}
	for c := range classSet {
		r.Classes = append(r.Classes, c)
	}
	sort.Strings(r.Classes)
	r.Images = len(entries)
	errs := make([]string, len(entries))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = entries[i].read(filepath.Join(dir, entries[i].Path), o.Near >= 0)
			}
		}()
	}
feed:
	for i := range entries {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, e := range entries {
		if errs[i] != "" {
			r.Unreadable = append(r.Unreadable, Unreadable{File: e.File, Error: errs[i]})
		}
	}
	r.Exact = exactGroups(entries)
	if o.Near >= 0 {
		r.Near = nearGroups(entries, o.Near)
	}
	r.Leaks = leaks(r)
	if r.Splits[0] == "" {
		c, err := corrections(dir, entries)
		if err != nil {
			return nil, err
		}
		r.Corrections = c
	}
	return r, nil
}

// read hashes the file's bytes and, when it decodes, its pixels; it
// returns the decode error, if any.
func (e *entry) read(path string, perceptual bool) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	b, err := io.ReadAll(io.LimitReader(f, data.MaxFileBytes+1))
	f.Close()
	if err != nil {
		return err.Error()
	}
	e.sum = sha256.Sum256(b)
	img, err := data.Decode(b)
	if err != nil {
		return err.Error()
	}
	e.ok = true
	if perceptual {
		e.hash = PerceptualHash(img)
	}
	return ""
}

// Hash is a pair of 64-bit perceptual hashes of an image: the DCT hash
// (pHash, low frequencies) and the difference hash (dHash, gradients).
type Hash struct{ P, D uint64 }

// PerceptualHash hashes the image on a 64x64 bilinear thumbnail;
// near-identical pictures (recompressed, rescaled, slightly edited) differ
// in few bits of both.
func PerceptualHash(img *data.RGB) Hash {
	th := data.Resize(img, 64, 64, data.Bilinear)
	rgba := image.NewRGBA(image.Rect(0, 0, th.W, th.H))
	for i := 0; i < th.W*th.H; i++ {
		copy(rgba.Pix[4*i:4*i+3], th.Pix[3*i:3*i+3])
		rgba.Pix[4*i+3] = 255
	}
	var h Hash
	// Errors come only for a nil image.
	if p, err := goimagehash.PerceptionHash(rgba); err == nil {
		h.P = p.GetHash()
	}
	if d, err := goimagehash.DifferenceHash(rgba); err == nil {
		h.D = d.GetHash()
	}
	return h
}

// Distance is the larger of the two hashes' Hamming distances: two images
// are near-duplicates only when both their low frequencies (pHash) and
// their gradients (dHash) agree, which keeps small objects on the same
// plain background apart.
func Distance(a, b Hash) int {
	return max(bits.OnesCount64(a.P^b.P), bits.OnesCount64(a.D^b.D))
}

func newGroup(es []*entry, dist int) Group {
	g := Group{Distance: dist}
	for _, e := range es {
		g.Files = append(g.Files, e.File)
		g.CrossSplit = g.CrossSplit || e.Split != es[0].Split
		g.CrossClass = g.CrossClass || e.Class != es[0].Class
	}
	return g
}

func exactGroups(entries []*entry) []Group {
	by := map[[sha256.Size]byte][]*entry{}
	var order [][sha256.Size]byte
	for _, e := range entries {
		if e.sum == ([sha256.Size]byte{}) {
			continue
		}
		if by[e.sum] == nil {
			order = append(order, e.sum)
		}
		by[e.sum] = append(by[e.sum], e)
	}
	var gs []Group
	for _, k := range order {
		if len(by[k]) > 1 {
			gs = append(gs, newGroup(by[k], 0))
		}
	}
	return gs
}

// nearGroups joins decodable images whose hashes are within near bits into
// groups (single linkage); groups that are one exact-duplicate set are left
// to exactGroups.
func nearGroups(entries []*entry, near int) []Group {
	var es []*entry
	for _, e := range entries {
		if e.ok {
			es = append(es, e)
		}
	}
	sets := disjoint.New(len(es))
	for i := range es {
		for j := i + 1; j < len(es); j++ {
			if Distance(es[i].hash, es[j].hash) <= near {
				sets.Union(i, j)
			}
		}
	}
	members := map[int][]*entry{}
	var roots []int
	for i, e := range es {
		r := sets.Find(i)
		if members[r] == nil {
			roots = append(roots, r)
		}
		members[r] = append(members[r], e)
	}
	var gs []Group
	for _, r := range roots {
		m := members[r]
		if len(m) < 2 {
			continue
		}
		exact := true
		dist := 0
		for i := range m {
			for j := i + 1; j < len(m); j++ {
				exact = exact && m[i].sum == m[j].sum
				dist = max(dist, Distance(m[i].hash, m[j].hash))
			}
		}
		if !exact {
			gs = append(gs, newGroup(m, dist))
		}
	}
	return gs
}

// leaks counts, per split other than train, the images that have an exact
// or near duplicate in train.
func leaks(r *Report) map[string]int {
	out := map[string]int{}
	for _, s := range r.Splits {
		if s != "" && s != "train" {
			out[s] = 0
		}
	}
	seen := map[string]bool{}
	for _, g := range append(append([]Group{}, r.Exact...), r.Near...) {
		inTrain := false
		for _, f := range g.Files {
			inTrain = inTrain || f.Split == "train"
		}
		if !inTrain {
			continue
		}
		for _, f := range g.Files {
			if f.Split != "train" && f.Split != "" && !seen[f.Path] {
				seen[f.Path] = true
				out[f.Split]++
			}
		}
	}
	return out
}

// WriteText writes the report as tables.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "class\t")
	for _, s := range r.Splits {
		name := s
		if name == "" {
			name = "images"
		}
		fmt.Fprintf(tw, "%s\t", name)
	}
	fmt.Fprintln(tw)
	total := map[string]int{}
	for _, c := range r.Classes {
		fmt.Fprintf(tw, "%s\t", c)
		for _, s := range r.Splits {
			fmt.Fprintf(tw, "%d\t", r.Counts[s][c])
			total[s] += r.Counts[s][c]
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "total\t")
	for _, s := range r.Splits {
		fmt.Fprintf(tw, "%d\t", total[s])
	}
	fmt.Fprintln(tw)
	tw.Flush()
	fmt.Fprintf(w, "\n%d images, %d unreadable\n", r.Images, len(r.Unreadable))
	for _, u := range r.Unreadable {
		fmt.Fprintf(w, "  unreadable %s: %s\n", u.Path, u.Error)
	}
	for _, kind := range []struct {
		name   string
		groups []Group
		near   bool
	}{{"exact duplicates (same bytes)", r.Exact, false}, {fmt.Sprintf("near-duplicates (perceptual hashes within %d of 64 bits)", r.NearBits), r.Near, true}} {
		files, cross, conflict := 0, 0, 0
		for _, g := range kind.groups {
			files += len(g.Files)
			if g.CrossSplit {
				cross++
			}
			if g.CrossClass {
				conflict++
			}
		}
		fmt.Fprintf(w, "\n%s: %d groups, %d files; %d groups cross splits, %d cross classes\n", kind.name, len(kind.groups), files, cross, conflict)
		for _, g := range kind.groups {
			var marks []string
			if g.CrossSplit {
				marks = append(marks, "CROSS-SPLIT")
			}
			if g.CrossClass {
				marks = append(marks, "CROSS-CLASS")
			}
			if kind.near {
				marks = append(marks, fmt.Sprintf("distance %d", g.Distance))
			}
			var paths []string
			for _, f := range g.Files {
				paths = append(paths, f.Path)
			}
			fmt.Fprintf(w, "  %s", strings.Join(paths, "  "))
			if len(marks) > 0 {
				fmt.Fprintf(w, "  [%s]", strings.Join(marks, ", "))
			}
			fmt.Fprintln(w)
		}
	}
	if len(r.Leaks) > 0 {
		var parts []string
		for _, s := range r.Splits {
			if n, ok := r.Leaks[s]; ok {
				parts = append(parts, fmt.Sprintf("%s %d of %d", s, n, total[s]))
			}
		}
		fmt.Fprintf(w, "\nleakage: images with an exact or near duplicate in train: %s\n", strings.Join(parts, ", "))
	}
	if c := r.Corrections; c != nil {
		c.writeText(w)
	}
	return nil
}

// writeText lists the corrections with their origin: each photo, its
// label, the class the service had answered (when its token said), the
// client's hash, the time and the model.
func (c *Corrections) writeText(w io.Writer) {
	fmt.Fprintf(w, "\ncorrections stored by the service: %d with an origin record, %d without, %d records of removed photos, %d unreadable log lines\n",
		len(c.Records), len(c.Unrecorded), len(c.Removed), len(c.BadLines))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  photo\tlabel\tanswered\tclient\ttime\tmodel")
	for _, o := range c.Records {
		answered := o.Answered
		if answered == "" {
			answered = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", o.File, o.Label, answered, o.Client, o.Time, o.Model)
	}
	tw.Flush()
	for _, p := range c.Unrecorded {
		fmt.Fprintf(w, "  no origin record: %s\n", p)
	}
	for _, p := range c.Removed {
		fmt.Fprintf(w, "  record of a removed photo: %s\n", p)
	}
	if len(c.BadLines) > 0 {
		fmt.Fprintf(w, "  unreadable lines of %s: %v\n", data.CorrectionOriginLog, c.BadLines)
	}
}
