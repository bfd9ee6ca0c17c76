// Command trashsort trains, evaluates and serves image classifiers by
// transfer learning from ImageNet-pretrained CNNs; its flagship sorts waste
// photos into cardboard, glass, metal, paper, plastic and trash.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "trashsort:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "trashsort",
		Short:         "Transfer-learning image classifiers (a waste sorter by default)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(layersCmd(), weightsCmd())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// extraCommands are registered by the other files of this package.
var extraCommands []func() *cobra.Command
