package main

import (
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/evaluate"
	"trashsort/internal/testimages"
)

// TestEvalFormats: eval prints the same report as a table, as JSON and as
// CSV (--json is the deprecated spelling of --format json), and each
// parses as what it claims to be.
func TestEvalFormats(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	val := filepath.Join(dir, "val")
	testimages.ClassFolders(t, val, []string{"a", "b"}, 3)
	for _, tc := range []struct {
		name  string
		flags []string
		check func(t *testing.T, out string)
	}{
		{"table", []string{"--format", "table"}, func(t *testing.T, out string) {
			for _, want := range []string{"precision", "macro avg", "weighted avg", "accuracy", "confusion matrix"} {
				if !strings.Contains(out, want) {
					t.Errorf("table lacks %q:\n%s", want, out)
				}
			}
		}},
		{"default is table", nil, func(t *testing.T, out string) {
			if !strings.Contains(out, "confusion matrix") {
				t.Errorf("default output is not the table:\n%s", out)
			}
		}},
		{"json", []string{"--format", "json"}, checkEvalJSON},
		{"csv", []string{"--format", "csv"}, func(t *testing.T, out string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			var first []string
			for _, r := range rows {
				first = append(first, r[0])
			}
			if got, want := strings.Join(first, ","), "class,a,b,macro avg,weighted avg,accuracy"; got != want {
				t.Errorf("first column %q, want %q", got, want)
			}
			if got := strings.Join(rows[0], ","); got != "class,precision,recall,f1,support" {
				t.Errorf("header %q", got)
			}
			if len(rows) == 6 && (rows[1][4] != "3" || rows[5][4] != "6") {
				t.Errorf("support: class a %s, accuracy %s; want 3 and 6", rows[1][4], rows[5][4])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, append([]string{"eval", "--model", model, "--data", val}, tc.flags...)...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, out)
		})
	}
}

func checkEvalJSON(t *testing.T, out string) {
	t.Helper()
	var r evaluate.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if r.Images != 6 || len(r.Classes) != 2 || len(r.Confusion) != 2 {
		t.Errorf("report: %d images, %d classes, %d confusion rows; want 6, 2, 2", r.Images, len(r.Classes), len(r.Confusion))
	}
}

// TestFormatRefusedBeforeWork: an unknown --format, or the --json flag
// that --format json replaced, is refused before the model is read (the model file here
// does not exist, so any other error would name it).
func TestFormatRefusedBeforeWork(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.safetensors")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--model", missing, "--data", ".", "--format", "xml"}, `invalid argument "xml" for "--format" flag: want table, json or csv`},
		{[]string{"eval", "--model", missing, "--data", ".", "--format", "JSON"}, "want table, json or csv"},
		{[]string{"eval", "--model", missing, "--data", ".", "--json"}, "unknown flag: --json"},
		{[]string{"data", "check", ".", "--json"}, "unknown flag: --json"},
		{[]string{"data", "check", ".", "--format", "csv"}, "data check writes table or json"},
		{[]string{"predict", "--model", missing, "--format", "tsv", "x.jpg"}, `invalid argument "tsv" for "--format" flag: want table, json or csv`},
	} {
		_, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestEnsembleModelFlag: eval and predict take several comma-separated
// model files and average them; a missing member is an error naming it.
func TestEnsembleModelFlag(t *testing.T) {
	dir := t.TempDir()
	m1 := tinyModel(t, filepath.Join(dir, "one"))
	m2 := tinyModel(t, filepath.Join(dir, "two"))
	val := filepath.Join(dir, "val")
	testimages.ClassFolders(t, val, []string{"a", "b"}, 3)
	out, err := run(t, "eval", "--model", m1+","+m2, "--data", val, "--format", "json", "--explain=false")
	if err != nil {
		t.Fatalf("eval of an ensemble: %v\n%s", err, out)
	}
	checkEvalJSON(t, out)
	out, err = run(t, "predict", "--model", m1+","+m2, "--format", "csv", filepath.Join(val, "a"))
	if err != nil || len(strings.Split(strings.TrimSpace(out), "\n")) != 4 {
		t.Fatalf("predict with an ensemble: %v\n%s", err, out)
	}
	missing := filepath.Join(dir, "missing.safetensors")
	if _, err := run(t, "eval", "--model", m1+","+missing, "--data", val); err == nil || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("an ensemble with a missing member: %v", err)
	}
}

// TestInt8Flags: --int8 needs a calibrated model and a non-negative
// --int8-max-err, and says so.
func TestInt8Flags(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	val := filepath.Join(dir, "val")
	testimages.ClassFolders(t, val, []string{"a", "b"}, 1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--int8"}, "no int8 calibration"},
		{[]string{"--int8", "--int8-max-err", "-1"}, "--int8-max-err"},
	} {
		_, err := run(t, append([]string{"eval", "--model", model, "--data", val}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("eval %v: %v, want an error about %q", tc.args, err, tc.want)
		}
	}
}
