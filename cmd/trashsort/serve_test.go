package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestServeLogger: --log-format picks the handler, --log-level the least
// level, and a value of neither is refused by name.
func TestServeLogger(t *testing.T) {
	var b bytes.Buffer
	l, err := serveLogger(&b, "json", "warn")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m["msg"] != "shown" || m["level"] != "WARN" {
		t.Errorf("json at warn wrote %q (%v)", b.String(), err)
	}
	b.Reset()
	l, err = serveLogger(&b, "text", "debug")
	if err != nil {
		t.Fatal(err)
	}
	if !l.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("--log-level debug does not log debug lines")
	}
	l.Debug("request", "status", 200)
	if got := b.String(); !strings.Contains(got, "level=DEBUG msg=request status=200") {
		t.Errorf("text at debug wrote %q", got)
	}
	for _, bad := range [][2]string{{"xml", "info"}, {"json", "loud"}} {
		if _, err := serveLogger(&b, bad[0], bad[1]); err == nil {
			t.Errorf("--log-format %s --log-level %s accepted", bad[0], bad[1])
		}
	}
}
