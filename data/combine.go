package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// Origin is one of the datasets a combined Dataset was made of.
type Origin struct {
	// Name says where the items came from (a folder, a dataset's name).
	Name string
	// Weight scales how often each of its items is drawn in a shuffled
	// epoch, relative to the other origins' items (PyTorch's
	// WeightedRandomSampler with one weight per dataset): 2 draws each
	// item twice as often as an item of weight 1.
	Weight float64
}

// Part is a dataset to combine, with its name and sampling weight (0
// means 1).
type Part struct {
	Name   string
	Weight float64
	Set    *Dataset
}

// Combine concatenates datasets of the same classes into one whose items
// remember their origin, for training on several datasets at once (a
// public set and a site's own labelled photos). When the weights differ,
// a shuffled Loader draws an epoch's items in proportion to them.
func Combine(parts ...Part) (*Dataset, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("combine: no datasets")
	}
	out := &Dataset{}
	for s, p := range parts {
		if p.Set == nil || len(p.Set.Items) == 0 {
			return nil, fmt.Errorf("combine: %s holds no images", p.Name)
		}
		if s == 0 {
			out.Root, out.Classes = p.Set.Root, p.Set.Classes
		}
		if !slices.Equal(p.Set.Classes, out.Classes) {
			return nil, fmt.Errorf("combine: %s has classes %s, not %s", p.Name, strings.Join(p.Set.Classes, ", "), strings.Join(out.Classes, ", "))
		}
		w := p.Weight
		if w == 0 {
			w = 1
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("combine: %s: weight %g, want a positive number", p.Name, p.Weight)
		}
		out.Origins = append(out.Origins, Origin{Name: p.Name, Weight: w})
		for _, it := range p.Set.Items {
			it.Origin = s
			out.Items = append(out.Items, it)
		}
	}
	return out, nil
}

// FromOrigin returns the items of ds that came from origin s.
func (d *Dataset) FromOrigin(s int) *Dataset {
	out := &Dataset{Root: d.Root, Classes: d.Classes, Origins: d.Origins}
	for _, it := range d.Items {
		if it.Origin == s {
			out.Items = append(out.Items, it)
		}
	}
	return out
}

// StratifiedSplit holds out frac of every class (rounded, at least one
// photo of a class with two or more) for validation after a seeded
// shuffle: a small site folder keeps every class on both sides.
func (d *Dataset) StratifiedSplit(frac float64, seed uint64) (train, val *Dataset, err error) {
	if frac <= 0 || frac >= 1 {
		return nil, nil, fmt.Errorf("dataset: validation fraction %g outside (0, 1)", frac)
	}
	byClass := map[int][]Item{}
	for _, it := range d.Items {
		byClass[it.Label] = append(byClass[it.Label], it)
	}
	labels := make([]int, 0, len(byClass))
	for c := range byClass {
		labels = append(labels, c)
	}
	sort.Ints(labels)
	train = &Dataset{Root: d.Root, Classes: d.Classes, Origins: d.Origins}
	val = &Dataset{Root: d.Root, Classes: d.Classes, Origins: d.Origins}
	r := rand.New(rand.NewPCG(seed, 0x73706c74))
	for _, c := range labels {
		items := byClass[c]
		r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		nv := int(math.Round(frac * float64(len(items))))
		if nv == 0 && len(items) >= 2 {
			nv = 1
		}
		if nv == len(items) {
			nv = len(items) - 1
		}
		val.Items = append(val.Items, items[:nv]...)
		train.Items = append(train.Items, items[nv:]...)
	}
	return train, val, nil
}

// weightedOrder draws n item indices with replacement, each item in
// proportion to its origin's weight; nil when every item weighs the same
// (the plain shuffle then applies).
func (d *Dataset) weightedOrder(r *rand.Rand) []int {
	if len(d.Origins) < 2 {
		return nil
	}
	uniform := true
	for _, s := range d.Origins[1:] {
		if s.Weight != d.Origins[0].Weight {
			uniform = false
		}
	}
	if uniform {
		return nil
	}
	cum := make([]float64, len(d.Items))
	total := 0.0
	for i, it := range d.Items {
		total += d.Origins[it.Origin].Weight
		cum[i] = total
	}
	order := make([]int, len(d.Items))
	for k := range order {
		u := r.Float64() * total
		order[k] = min(sort.SearchFloat64s(cum, u), len(cum)-1)
	}
	return order
}
