package shared

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// SummaryRow is one layer of a model summary: Keras' (as parsed in
// reference/keras_summaries) or trashsort's (nn.Model.Summary).
type SummaryRow struct {
	Index   int
	Name    string
	Class   string
	Shape   string // as Keras prints it: "(None, 7, 7, 2048)"
	Params  int
	Inbound []string
}

func (r SummaryRow) String() string {
	return fmt.Sprintf("%d %s %s %s %d [%s]", r.Index, r.Name, r.Class, r.Shape, r.Params, strings.Join(r.Inbound, ", "))
}

// KerasSummary reads reference/keras_summaries/<file> (lines "idx | name |
// class | shape | params | inbound, ..."), skipping the test where the
// shared folder is absent.
func KerasSummary(tb testing.TB, file string) []SummaryRow {
	tb.Helper()
	p := Path(tb, "reference/keras_summaries/"+file)
	f, err := os.Open(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var rows []SummaryRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 6 {
			tb.Fatalf("%s: bad line %q", p, line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		r, err := row(f)
		if err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return rows
}

func row(f []string) (SummaryRow, error) {
	idx, err := strconv.Atoi(f[0])
	if err != nil {
		return SummaryRow{}, fmt.Errorf("bad index in %q", f)
	}
	params, err := strconv.Atoi(strings.ReplaceAll(f[4], ",", ""))
	if err != nil {
		return SummaryRow{}, fmt.Errorf("bad params in %q", f)
	}
	r := SummaryRow{Index: idx, Name: f[1], Class: f[2], Shape: f[3], Params: params}
	if f[5] != "-" {
		r.Inbound = strings.Split(f[5], ", ")
	}
	return r, nil
}

var columns = regexp.MustCompile(`\s{2,}`)

// ParseSummary reads the layer lines of trashsort's summary (nn.Model.Summary,
// `trashsort layers`): index, name, class, shape, params, trainable,
// connected to, in columns separated by two or more spaces.
func ParseSummary(tb testing.TB, text string) []SummaryRow {
	tb.Helper()
	var rows []SummaryRow
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] < '0' || line[0] > '9' {
			continue
		}
		f := columns.Split(strings.TrimSpace(line), -1)
		if len(f) != 7 {
			tb.Fatalf("summary line %q has %d columns, want 7", line, len(f))
		}
		r, err := row([]string{f[0], f[1], f[2], f[3], f[4], f[6]})
		if err != nil {
			tb.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

// InsertAfter returns rows with r inserted after the layer named after:
// the layers that took after's output take r's instead, and indices follow.
func InsertAfter(rows []SummaryRow, after string, r SummaryRow) []SummaryRow {
	var out []SummaryRow
	for _, x := range rows {
		x.Inbound = append([]string(nil), x.Inbound...)
		for i, in := range x.Inbound {
			if in == after {
				x.Inbound[i] = r.Name
			}
		}
		out = append(out, x)
		if x.Name == after {
			r.Inbound = []string{after}
			out = append(out, r)
		}
	}
	for i := range out {
		out[i].Index = i
	}
	return out
}

// CompareSummaries reports every layer whose fields differ, and a layer
// count that differs.
func CompareSummaries(tb testing.TB, got, want []SummaryRow) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%d layers, Keras has %d", len(got), len(want))
	}
	bad := 0
	for i := 0; i < min(len(got), len(want)); i++ {
		if got[i].String() != want[i].String() {
			bad++
			if bad <= 10 {
				tb.Errorf("layer %d:\n got  %s\n want %s", i, got[i], want[i])
			}
		}
	}
	if bad > 10 {
		tb.Errorf("... %d layers differ in all", bad)
	}
}
