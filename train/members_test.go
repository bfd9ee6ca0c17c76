package train

import (
	"context"
	"testing"
)

func TestMemberConfig(t *testing.T) {
	for _, tc := range []struct {
		out, logs        string
		i                int
		wantOut, wantLog string
		seed             uint64
	}{
		{"out/model.safetensors", "out/logs", 0, "out/model.safetensors", "out/logs", 7},
		{"out/model.safetensors", "out/logs", 1, "out/model-2.safetensors", "out/logs-2", 8},
		{"m.x.safetensors", "", 2, "m.x-3.safetensors", "", 9},
		{"model", "", 3, "model-4", "", 10},
	} {
		mc := MemberConfig(Config{Out: tc.out, LogDir: tc.logs, Seed: 7}, tc.i)
		if mc.Out != tc.wantOut || mc.LogDir != tc.wantLog || mc.Seed != tc.seed {
			t.Errorf("member %d of %q, %q: %q, %q, seed %d; want %q, %q, %d", tc.i, tc.out, tc.logs, mc.Out, mc.LogDir, mc.Seed, tc.wantOut, tc.wantLog, tc.seed)
		}
	}
}

func TestFitMembersRefusesNone(t *testing.T) {
	if _, err := FitMembers(context.Background(), Config{}, 0, nil, nil, "", nil); err == nil {
		t.Error("no members: no error")
	}
}
