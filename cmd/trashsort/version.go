package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"trashsort/dnnl"
)

func init() { register(versionCmd) }

// versionCmd prints what a bug report needs: the build (module version,
// VCS revision, Go version), oneDNN's version and the instruction set it
// dispatches to on this CPU.
func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the build, oneDNN's version and the CPU's instruction set",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			version, revision, modified := "(devel)", "unknown", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				if bi.Main.Version != "" {
					version = bi.Main.Version
				}
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision":
						revision = s.Value
					case "vcs.modified":
						if s.Value == "true" {
							modified = " (modified)"
						}
					}
				}
			}
			fmt.Fprintf(out, "trashsort %s, revision %s%s\n", version, revision, modified)
			fmt.Fprintf(out, "go %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(out, "oneDNN %s, ISA %s\n", dnnl.Version(), dnnl.ISA())
			return nil
		},
	}
}
