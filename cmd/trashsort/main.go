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
	passiveOpenMP()
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
	for _, newCmd := range commands {
		root.AddCommand(newCmd())
	}
	return root
}

// passiveOpenMP re-executes `trashsort serve` with OMP_WAIT_POLICY=PASSIVE
// unless the caller set a policy. libgomp reads the variable once, when it
// is loaded, and by default its idle threads spin; in a server the spinning
// takes the cores that image decoding needs (20 concurrent 12 MP images
// finish about a quarter sooner on 2 cores with passive waiting).
func passiveOpenMP() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		return
	}
	if _, set := os.LookupEnv("OMP_WAIT_POLICY"); set {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := append(os.Environ(), "OMP_WAIT_POLICY=PASSIVE")
	err = syscall.Exec(exe, os.Args, env)
	fmt.Fprintln(os.Stderr, "trashsort: could not set OMP_WAIT_POLICY=PASSIVE:", err) // only reached when Exec fails
}

// commands are the constructors of the subcommands, each file adding its
// own in init through register; cobra lists them sorted by name in help.
var commands []func() *cobra.Command

// register adds subcommand constructors to commands.
func register(c ...func() *cobra.Command) { commands = append(commands, c...) }
