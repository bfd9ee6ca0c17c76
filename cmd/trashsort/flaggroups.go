package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// groupAnnotation is the pflag annotation that names a flag's group in help.
const groupAnnotation = "trashsort_group"

// flagGroup is a heading of a command's help and its flags, in the order
// help lists them.
type flagGroup struct {
	title string
	flags []string
}

// trainFlagGroups are the headings of train's and run's help.
var trainFlagGroups = []flagGroup{
	{"General", []string{"recipe", "time-budget", "seed", "members", "folds", "batch", "workers", "help"}},
	{"Data", []string{"data", "data-weight", "train", "val", "val-split", "images", "train-list", "val-list", "list-labels", "map", "extra", "resize",
		"cache-features", "cache-at", "feature-cache", "features", "features-plan", "cache-memory", "bf16"}},
	{"Model", []string{"backbone", "from-model", "imprint", "weights", "size", "test-sizes", "units", "dropout", "rescale"}},
	{"Augmentation", []string{"no-augment", "shear", "zoom", "hflip", "vflip", "rotation", "width-shift", "height-shift",
		"brightness", "crop-scale", "contrast", "saturation", "erasing", "background", "backgrounds", "hue", "greyscale", "illumination", "blur", "jpeg", "fill-mode", "mixup"}},
	{"Stage 1", []string{"epochs1", "optimizer1", "lr1"}},
	{"Stage 2", []string{"epochs2", "unfreeze-from", "optimizer2", "lr2", "momentum", "warmup"}},
	{"Both stages", []string{"class-weight", "label-smoothing", "weight-decay", "ema", "final-fit", "bf16-train"}},
	{"Callbacks", []string{"early-stopping", "reduce-lr", "reduce-factor", "cosine"}},
	{"Output", []string{"out", "out-dir", "log-dir", "resume", "tta"}},
}

// groupFlags annotates each of cmd's flags named in groups with its
// group's title and makes cmd's usage list the flags under those headings.
// A flag in no group is listed under "Other" (a test keeps that list
// empty for train and run); a name that cmd lacks is skipped, so commands
// may share a grouping.
func groupFlags(cmd *cobra.Command, groups []flagGroup) {
	cmd.InitDefaultHelpFlag()
	fs := cmd.Flags()
	for _, g := range groups {
		for _, name := range g.flags {
			if fs.Lookup(name) != nil {
				fs.SetAnnotation(name, groupAnnotation, []string{g.title})
			}
		}
	}
	cmd.SetUsageFunc(func(c *cobra.Command) error {
		_, err := fmt.Fprint(c.OutOrStderr(), groupedUsage(c, groups))
		return err
	})
}

// groupedUsage is cobra's usage text with the local flags under the groups'
// headings.
func groupedUsage(c *cobra.Command, groups []flagGroup) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n  %s\n", c.UseLine())
	if c.HasExample() {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", c.Example)
	}
	local := c.LocalFlags()
	section := func(title string, flags []*pflag.Flag) {
		set := pflag.NewFlagSet(title, pflag.ContinueOnError)
		set.SortFlags = false
		for _, f := range flags {
			set.AddFlag(f)
		}
		if usage := set.FlagUsages(); usage != "" { // hidden and deprecated flags are left out
			fmt.Fprintf(&b, "\n%s:\n%s", title, usage)
		}
	}
	for _, g := range groups {
		var flags []*pflag.Flag
		for _, name := range g.flags {
			if f := local.Lookup(name); f != nil && flagGroupOf(f) == g.title {
				flags = append(flags, f)
			}
		}
		section(g.title, flags)
	}
	var other []*pflag.Flag
	local.VisitAll(func(f *pflag.Flag) {
		if flagGroupOf(f) == "" {
			other = append(other, f)
		}
	})
	section("Other", other)
	if c.HasAvailableInheritedFlags() {
		fmt.Fprintf(&b, "\nGlobal:\n%s", c.InheritedFlags().FlagUsages())
	}
	return b.String()
}

// flagGroupOf returns the group title f is annotated with, "" for none.
func flagGroupOf(f *pflag.Flag) string {
	if g := f.Annotations[groupAnnotation]; len(g) > 0 {
		return g[0]
	}
	return ""
}
