package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"trashsort/bench"
)

func init() { extraCommands = append(extraCommands, benchCmd) }

func benchCmd() *cobra.Command {
	var model, modes, peer string
	var size, batch, iters, warmup int
	var bf16 bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure img/s for forward, stage 1 and stage 2 steps, optionally beside the PyTorch peer",
		Long: `Measure the recipe's work on random data and print one JSON object per
measurement, in the schema of the PyTorch peer benchmark. With --peer PATH
the peer script runs too, in the same session, and each line gets the
ratio (trashsort img/s over the peer's): this machine is noisy, so compare
only numbers taken together.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			enc := json.NewEncoder(cmd.OutOrStdout())
			for _, mode := range strings.Split(modes, ",") {
				r, err := bench.Run(model, mode, size, batch, iters, warmup, bf16)
				if err != nil {
					return err
				}
				line := map[string]any{"peer": r.Peer, "mode": r.Mode, "size": r.Size, "batch": r.Batch, "img_per_s": r.ImgPerS, "gflop_per_s": r.GFLOPPerS}
				if peer != "" {
					peerMode := strings.TrimSuffix(strings.TrimSuffix(mode, "-bf16"), "-cached")
					p, err := runPeer(peer, peerMode, size, batch, iters, warmup)
					if err != nil {
						return err
					}
					line["peer_img_per_s"] = p
					line["ratio"] = float64(int(100*r.ImgPerS/p+0.5)) / 100
				}
				if err := enc.Encode(line); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "inception_v3", "backbone")
	f.StringVar(&modes, "modes", strings.Join(bench.Modes, ","), "comma-separated modes")
	f.IntVar(&size, "size", 224, "input size")
	f.IntVar(&batch, "batch", 32, "batch size")
	f.IntVar(&iters, "iters", 3, "timed iterations")
	f.IntVar(&warmup, "warmup", 1, "untimed iterations first")
	f.BoolVar(&bf16, "bf16", false, "run frozen convolutions in bfloat16")
	f.StringVar(&peer, "peer", "", "path of pytorch_peer.py, run with /usr/bin/python3 for comparison")
	return cmd
}

func runPeer(script, mode string, size, batch, iters, warmup int) (float64, error) {
	var out bytes.Buffer
	c := exec.Command("/usr/bin/python3", script, "--mode", mode, "--size", fmt.Sprint(size), "--batch", fmt.Sprint(batch), "--iters", fmt.Sprint(iters), "--warmup", fmt.Sprint(warmup))
	c.Stdout = &out
	if err := c.Run(); err != nil {
		return 0, fmt.Errorf("peer %s --mode %s: %w", script, mode, err)
	}
	var r struct {
		ImgPerS float64 `json:"img_per_s"`
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return 0, fmt.Errorf("peer output %q: %w", out.String(), err)
	}
	return r.ImgPerS, nil
}
