package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"trashsort/dnnl"

	"github.com/spf13/cobra"

	"trashsort/bench"
)

func init() { register(benchCmd) }

func benchCmd() *cobra.Command {
	var backbone, modes, peer, peerORT string
	var size, batch, iters, warmup, rounds int
	var bf16, int8 bool
	var int8MaxErr float32
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure img/s for forward, stage 1 and stage 2 steps, optionally beside the PyTorch and ONNX Runtime peers",
		Long: `Measure the recipe's work on random data and print one JSON object per
mode, in the schema of the PyTorch peer benchmark. Modes are the peer's
names: forward, forward-bf16, forward-int8, stage1, stage2, stage2-cached,
and any stage mode with -bf16 (frozen layers in bfloat16 and the trained
convolutions in mixed precision, as train --bf16-train; the peer runs it
with --bf16, which covers its frozen layers).
With --peer PATH (pytorch_peer.py, run with /usr/bin/python3) the peer runs
the same mode in the same session and each line gets peer_img_per_s and
ratio (trashsort img/s over the peer's). With --peer-ort PATH (ort_peer.mjs,
run with node; ORT_NODE_DIR names the folder where onnxruntime-node is
installed) the float32 forward line also gets ort_img_per_s and ort_ratio.
This machine is noisy: compare only numbers taken together, and with
--rounds N each mode runs N times, alternating with the peers, and every
figure is the median of its N (the rounds are listed too).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rounds < 1 {
				return fmt.Errorf("--rounds %d: want at least 1", rounds)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			for _, mode := range strings.Split(modes, ",") {
				if bf16 && !strings.HasSuffix(mode, "-bf16") {
					mode += "-bf16"
				}
				if int8 && mode == "forward" {
					mode = "forward-int8"
				}
				spec, err := bench.ParseMode(mode)
				if err != nil {
					return err
				}
				common := []string{"--size", fmt.Sprint(size), "--batch", fmt.Sprint(batch), "--iters", fmt.Sprint(iters), "--warmup", fmt.Sprint(warmup)}
				// Each round runs trashsort, then the peers: on a noisy machine
				// the medians of alternating rounds compare like with like.
				var ours, torch, ort []float64
				var r bench.Result
				for k := 0; k < rounds; k++ {
					if r, err = bench.Run(backbone, mode, size, batch, iters, warmup, int8MaxErr); err != nil {
						return err
					}
					ours = append(ours, r.ImgPerS)
					if peer != "" {
						p, err := runPeer("/usr/bin/python3", append(append([]string{peer}, spec.PeerArgs()...), common...))
						if err != nil {
							return err
						}
						torch = append(torch, p)
					}
					if peerORT != "" && mode == "forward" {
						p, err := runPeer("node", append([]string{peerORT, "--mode", "forward"}, common...))
						if err != nil {
							return err
						}
						ort = append(ort, p)
					}
				}
				ips := median(ours)
				line := map[string]any{"peer": r.Peer, "mode": r.Mode, "size": r.Size, "batch": r.Batch, "img_per_s": ips, "gflop_per_s": round2(r.GFLOPPerS * ips / r.ImgPerS), "isa": dnnl.ISA()}
				if r.Int8Layers != "" {
					line["int8_layers"] = r.Int8Layers
				}
				if rounds > 1 {
					line["rounds"] = rounds
					line["img_per_s_rounds"] = ours
				}
				if torch != nil {
					line["peer_img_per_s"] = median(torch)
					line["ratio"] = ratio(ips, median(torch))
					if rounds > 1 {
						line["peer_img_per_s_rounds"] = torch
					}
				}
				if ort != nil {
					line["ort_img_per_s"] = median(ort)
					line["ort_ratio"] = ratio(ips, median(ort))
					if rounds > 1 {
						line["ort_img_per_s_rounds"] = ort
					}
				}
				if err := enc.Encode(line); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	backboneFlag(f, &backbone)
	f.StringVar(&modes, "modes", strings.Join(bench.Modes, ","), "comma-separated modes (the peer's names)")
	f.IntVar(&size, "size", 224, "input size")
	f.IntVar(&batch, "batch", 32, "batch size")
	f.IntVar(&iters, "iters", 3, "timed iterations")
	f.IntVar(&rounds, "rounds", 1, "run each mode this many times, alternating with the peers, and report the medians (this machine is noisy)")
	f.IntVar(&warmup, "warmup", 2, "untimed iterations first (the peers get the same; the engine's buffer pool settles in two passes)")
	f.BoolVar(&bf16, "bf16", false, "add -bf16 to every mode (frozen layers in bfloat16, trained convolutions in mixed precision)")
	f.BoolVar(&int8, "int8", false, "run forward as forward-int8 (calibrated on the benchmark batch)")
	f.Float32Var(&int8MaxErr, "int8-max-err", 1, "forward-int8: largest calibration error of a layer run in int8 (1: every convolution, as the peer; eval and serve use the bound quantize stored in the model, else 0.01)")
	f.StringVar(&peer, "peer", "", "path of pytorch_peer.py, run with /usr/bin/python3 for comparison")
	f.StringVar(&peerORT, "peer-ort", "", "path of ort_peer.mjs, run with node for the forward mode (ORT_NODE_DIR: onnxruntime-node's folder)")
	return cmd
}

func ratio(ours, peer float64) float64 { return round2(ours / peer) }

func round2(v float64) float64 { return float64(int(100*v+0.5)) / 100 }

// median of a non-empty list.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return round2((s[n/2-1] + s[n/2]) / 2)
	}
	return s[len(s)/2]
}

// runPeer runs a peer benchmark and returns the img_per_s of its last JSON line.
func runPeer(prog string, args []string) (float64, error) {
	var out, errOut bytes.Buffer
	c := exec.Command(prog, args...)
	c.Stdout, c.Stderr = &out, &errOut
	// ort_peer.mjs resolves ORT_NODE_DIR with createRequire, which takes
	// only absolute paths: make a relative one absolute.
	if dir := os.Getenv("ORT_NODE_DIR"); dir != "" && !filepath.IsAbs(dir) {
		if abs, err := filepath.Abs(dir); err == nil {
			c.Env = append(os.Environ(), "ORT_NODE_DIR="+abs)
		}
	}
	if err := c.Run(); err != nil {
		return 0, fmt.Errorf("peer %s %s: %w: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	var r struct {
		ImgPerS float64 `json:"img_per_s"`
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil || r.ImgPerS <= 0 {
		return 0, fmt.Errorf("peer %s output %q: no img_per_s (%v)", args[0], out.String(), err)
	}
	return r.ImgPerS, nil
}
