package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBenchRounds: with --rounds, bench runs each mode that many times
// beside the peer, passes the peer the same mode and settings, and
// reports the medians and their ratio.
func TestBenchRounds(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 to run the stand-in peer")
	}
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	peer := filepath.Join(dir, "peer.py")
	// A stand-in for pytorch_peer.py: records its arguments and reports
	// 10, 30 and 20 img/s in turn.
	script := `import json, sys
with open(sys.argv[0] + ".n", "a+") as f:
    f.seek(0); n = len(f.read()); f.write("x")
with open(` + "\"" + calls + "\"" + `, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
print(json.dumps({"peer": "stand-in", "img_per_s": [10, 30, 20][n % 3]}))
`
	if err := os.WriteFile(peer, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "bench", "--backbone", "mobilenet_v2_035", "--size", "32", "--batch", "2", "--iters", "1", "--warmup", "0",
		"--modes", "forward", "--rounds", "3", "--peer", peer)
	if err != nil {
		t.Fatal(err)
	}
	var line struct {
		Mode       string    `json:"mode"`
		ImgPerS    float64   `json:"img_per_s"`
		Rounds     int       `json:"rounds"`
		Ours       []float64 `json:"img_per_s_rounds"`
		Peer       float64   `json:"peer_img_per_s"`
		PeerRounds []float64 `json:"peer_img_per_s_rounds"`
		Ratio      float64   `json:"ratio"`
	}
	if err := json.Unmarshal([]byte(out), &line); err != nil {
		t.Fatalf("bench output %q: %v", out, err)
	}
	if line.Mode != "forward" || line.Rounds != 3 || len(line.Ours) != 3 || !slices.Equal(line.PeerRounds, []float64{10, 30, 20}) || line.Peer != 20 {
		t.Errorf("bench line %+v", line)
	}
	s := slices.Clone(line.Ours)
	slices.Sort(s)
	if line.ImgPerS != s[1] || line.Ratio != ratio(s[1], 20) {
		t.Errorf("img/s %g, ratio %g: want the median of %v and its ratio to 20", line.ImgPerS, line.Ratio, line.Ours)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	want := "--mode forward --size 32 --batch 2 --iters 1 --warmup 0"
	if got := strings.Split(strings.TrimSpace(string(b)), "\n"); len(got) != 3 || got[0] != want {
		t.Errorf("peer called with %q, want 3 calls with %q", got, want)
	}
	if _, err := run(t, "bench", "--rounds", "0"); err == nil || !strings.Contains(err.Error(), "--rounds") {
		t.Errorf("--rounds 0: %v", err)
	}
}
