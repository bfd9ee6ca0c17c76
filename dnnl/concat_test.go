package dnnl

import (
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

func TestConcatMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	rows := 2 * 5 * 5
	widths := []int{64, 96, 32, 8}
	var parts [][]float32
	total := 0
	for _, w := range widths {
		parts = append(parts, randSlice(r, rows*w))
		total += w
	}
	want, got := make([]float32, rows*total), make([]float32, rows*total)
	tensor.Concat(rows, widths, parts, want)
	if err := Concat(rows, widths, parts, got); err != nil {
		t.Fatal(err)
	}
	if e := tensor.RelErr(got, want); e != 0 {
		t.Errorf("concat rel err %g", e)
	}
	if err := Concat(rows, widths, parts[:3], got); err == nil {
		t.Error("want error for mismatched parts")
	}
}
