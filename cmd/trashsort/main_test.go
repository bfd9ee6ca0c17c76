package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"trashsort/dnnl"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/shared"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestCommandsRegisteredOneWay: every subcommand comes from commands, each
// once, and help lists them sorted by name.
func TestCommandsRegisteredOneWay(t *testing.T) {
	want := []string{"adapt", "bench", "calibrate", "data", "eval", "explain", "export", "layers", "predict", "quantize", "run", "serve", "train", "version", "weights"}
	seen := map[string]bool{}
	for _, newCmd := range commands {
		name := newCmd().Name()
		if seen[name] {
			t.Errorf("%s registered twice", name)
		}
		seen[name] = true
	}
	if len(seen) != len(want) {
		t.Errorf("registered %v, want %v", seen, want)
	}
	root := newRoot()
	if len(root.Commands()) != len(want) {
		t.Errorf("root has %d commands, want %d", len(root.Commands()), len(want))
	}
	help, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	last := -1
	for _, name := range want {
		if !seen[name] {
			t.Errorf("%s not registered", name)
		}
		i := strings.Index(help, "\n  "+name+" ")
		if i < 0 || i < last {
			t.Errorf("help lists %s at %d, after %d: want every command, sorted\n%s", name, i, last, help)
		}
		last = i
	}
}

func TestLayersPrintsKerasIndices(t *testing.T) {
	w := shared.Path(t, "weights")
	out, err := run(t, "layers", "--backbone", "inception_v3", "--load", "--weights", w)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 0 && l[0] >= '0' && l[0] <= '9' {
			lines++
		}
	}
	if lines != 311 {
		t.Errorf("%d layer lines, want 311", lines)
	}
	for _, want := range []string{"248    mixed8", "249    conv2d_81", "310    mixed10", "Total params: 21,802,784"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// withRecipe registers train's flags for the backbone, sets the given
// flags as a user would, and applies the recipe.
func withRecipe(t *testing.T, recipe, backbone string, set ...string) (*trainFlags, *cobra.Command) {
	t.Helper()
	f := &trainFlags{recipe: recipe}
	cmd := &cobra.Command{Use: "train"}
	f.register(cmd.Flags())
	if backbone != "" {
		f.cfg.Backbone = backbone
	}
	for i := 0; i+1 < len(set); i += 2 {
		if err := cmd.Flags().Set(set[i], set[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.applyRecipe(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	return f, cmd
}

func TestRecipePresets(t *testing.T) {
	f, cmd := withRecipe(t, "tuned", "", "lr2", "5e-4")
	if f.cfg.Epochs1 != 8 || f.cfg.Epochs2 != 8 || f.cfg.LR2 != 5e-4 || f.cfg.CacheFeatures != 4 || f.cfg.Size != 299 || f.dropout != 0.5 || !f.cfg.TrainBF16 {
		t.Errorf("tuned preset for InceptionV3 with --lr2 5e-4: %+v dropout %g", f.cfg, f.dropout)
	}
	if f.cfg.EMA != 0.995 || f.cfg.Mixup != 0.2 || f.cfg.UnfreezeFrom != "conv2d_73" || !slices.Equal(f.cfg.TestSizes, []int{299, 331, 363}) {
		t.Errorf("tuned preset for InceptionV3: ema %g mixup %g unfreeze-from %q test sizes %v", f.cfg.EMA, f.cfg.Mixup, f.cfg.UnfreezeFrom, f.cfg.TestSizes)
	}
	// The preset's test sizes belong to its size: another --size drops them.
	h, _ := withRecipe(t, "tuned", "", "size", "224")
	if h.cfg.Size != 224 || h.cfg.TestSizes != nil {
		t.Errorf("tuned preset with --size 224: size %d, test sizes %v; want 224 and none", h.cfg.Size, h.cfg.TestSizes)
	}
	// Layer names are InceptionV3's: another backbone keeps its own default.
	g, _ := withRecipe(t, "tuned", "mobilenet_v2_035")
	if g.cfg.UnfreezeFrom != "" || g.cfg.EMA != 0.995 || g.cfg.Size != 224 || g.cfg.Epochs2 != 14 || g.cfg.CacheFeatures != 8 || g.cfg.TrainBF16 {
		t.Errorf("tuned preset for MobileNetV2: unfreeze-from %q (want the backbone's default), ema %g, size %d, epochs2 %d, views %d, bf16 training %v (measured for InceptionV3 only)",
			g.cfg.UnfreezeFrom, g.cfg.EMA, g.cfg.Size, g.cfg.Epochs2, g.cfg.CacheFeatures, g.cfg.TrainBF16)
	}
	// fast is tuned at 235 px with two views, predicting at 235 px.
	q, _ := withRecipe(t, "fast", "")
	if q.cfg.Size != 235 || q.cfg.CacheFeatures != 2 || !slices.Equal(q.cfg.TestSizes, []int{235}) || q.cfg.Epochs2 != 8 || q.cfg.UnfreezeFrom != "conv2d_73" || !q.cfg.TrainBF16 || q.cfg.Mixup != 0.2 {
		t.Errorf("fast preset for InceptionV3: %+v", q.cfg)
	}
	if tuned, _ := withRecipe(t, "tuned", ""); tuned.cfg.Size != 299 || tuned.cfg.CacheFeatures != 4 {
		t.Errorf("building the fast preset changed tuned: size %d, views %d", tuned.cfg.Size, tuned.cfg.CacheFeatures)
	}
	// max is tuned three times, in train and in run.
	for _, name := range []string{"run", "train"} {
		m := &trainFlags{recipe: "max"}
		c := &cobra.Command{Use: name}
		m.register(c.Flags())
		if name == "run" {
			c.Flags().BoolVar(&m.tta, "tta", false, "")
		}
		if err := m.applyRecipe(c.Flags()); err != nil {
			t.Fatal(err)
		}
		if m.members != 3 || m.tta || m.cfg.EMA != 0.995 || m.cfg.Epochs2 != 8 || m.cfg.Size != 299 || m.cfg.UnfreezeFrom != "conv2d_73" || !m.cfg.TrainBF16 {
			t.Errorf("max preset on %s: members %d tta %v ema %g epochs2 %d unfreeze %q", name, m.members, m.tta, m.cfg.EMA, m.cfg.Epochs2, m.cfg.UnfreezeFrom)
		}
	}
	f.recipe = "bogus"
	if err := f.applyRecipe(cmd.Flags()); err == nil {
		t.Error("unknown recipe accepted")
	}
	if _, err := run(t, "train", "--rescale", "1/0", "--data", t.TempDir()); err == nil {
		t.Error("bad --rescale accepted")
	}
}

func TestPredictReportsBadFilesAndGoesOn(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	imgs := filepath.Join(dir, "imgs")
	os.MkdirAll(imgs, 0o755)
	var b bytes.Buffer
	(&data.RGB{W: 10, H: 10, Pix: make([]byte, 300)}).Encode(&b, 90)
	os.WriteFile(filepath.Join(imgs, "good.jpg"), b.Bytes(), 0o644)
	os.WriteFile(filepath.Join(imgs, "bad.jpg"), []byte("not a jpeg"), 0o644)
	out, err := run(t, "predict", "--model", model, "--format", "csv", imgs)
	if !errors.Is(err, errSomeFailed) {
		t.Errorf("err %v, want errSomeFailed", err)
	}
	if !strings.Contains(out, "good.jpg") || strings.Count(out, "\n") != 2 {
		t.Errorf("output %q, want a header and the good file", out)
	}
}

func TestSplitListFlags(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	(&data.RGB{W: 10, H: 10, Pix: make([]byte, 300)}).Encode(&b, 90)
	for _, n := range []string{"glass1.jpg", "paper1.jpg", "glass2.jpg", "paper2.jpg"} {
		os.WriteFile(filepath.Join(dir, n), b.Bytes(), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "train.txt"), []byte("glass1.jpg 1\npaper1.jpg 2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "val.txt"), []byte("glass2.jpg 1\npaper2.jpg 2\n"), 0o644)
	f := &trainFlags{images: dir, trainList: filepath.Join(dir, "train.txt"), valList: filepath.Join(dir, "val.txt"), listLabels: "glass,paper"}
	tr, va, _, err := f.datasets(&cobra.Command{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Items) != 2 || len(va.Items) != 2 || strings.Join(tr.Classes, ",") != "glass,paper" {
		t.Errorf("train %+v val %+v", tr, va)
	}
}

// tinyModel saves an untrained two-class MobileNetV2 0.35 model at 64 px in
// dir and returns its path.
func tinyModel(t *testing.T, dir string) string {
	t.Helper()
	clf, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: []string{"a", "b"}, Head: classifier.Head{Units: 8}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "m.safetensors")
	if err := clf.Save(model); err != nil {
		t.Fatal(err)
	}
	return model
}

// TestTrainAndRunHelpGroupsFlags: every flag of train and run belongs to
// exactly one group, every group's heading is in their help, and help
// lists each visible flag once.
func TestTrainAndRunHelpGroupsFlags(t *testing.T) {
	titles := map[string]bool{}
	listed := map[string]int{}
	for _, g := range trainFlagGroups {
		titles[g.title] = true
		for _, name := range g.flags {
			listed[name]++
		}
	}
	for name, n := range listed {
		if n != 1 {
			t.Errorf("--%s is in %d groups", name, n)
		}
	}
	used := map[string]bool{}
	root := newRoot()
	for _, name := range []string{"train", "run"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			used[f.Name] = true
			if g := flagGroupOf(f); !titles[g] {
				t.Errorf("%s --%s has no group (annotation %q)", name, f.Name, g)
			}
		})
		help, err := run(t, name, "--help")
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range trainFlagGroups {
			if !strings.Contains(help, "\n"+g.title+":\n") {
				t.Errorf("%s --help lacks the heading %q", name, g.title)
			}
		}
		if strings.Contains(help, "\nOther:\n") {
			t.Errorf("%s --help lists ungrouped flags", name)
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			line := regexp.MustCompile(`(?m)^ +(-., )?--` + regexp.QuoteMeta(f.Name) + ` `)
			if n := len(line.FindAllString(help, -1)); !f.Hidden && n != 1 {
				t.Errorf("%s --help lists --%s %d times", name, f.Name, n)
			}
		})
	}
	for name := range listed {
		if !used[name] {
			t.Errorf("group lists --%s, which neither train nor run has", name)
		}
	}
	if help, _ := run(t, "run", "--help"); !strings.Contains(help, "--recipe tuned") || !strings.Contains(help, `(default "tuned")`) {
		t.Error("run's help does not say that it uses the tuned preset")
	}
	if help, _ := run(t, "train", "--help"); !strings.Contains(help, "--recipe seed") || !strings.Contains(help, `(default "seed")`) {
		t.Error("train's help does not say that it uses the seed preset")
	}
}

// TestVersion: version names the Go toolchain, oneDNN's version and the ISA.
func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"trashsort ", "go go1.", "oneDNN " + dnnl.Version(), "ISA " + dnnl.ISA()} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}
