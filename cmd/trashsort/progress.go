package main

import (
	"os"

	"github.com/schollz/progressbar/v3"
)

// bar wraps a byte progress bar whose total may be learnt late.
type bar struct {
	b    *progressbar.ProgressBar
	desc string
}

func newBar(total int64, desc string) *bar {
	return &bar{b: progressbar.DefaultBytes(total, desc), desc: desc}
}

func (b *bar) progress(done, total int64) {
	if total > 0 && b.b.GetMax64() != total {
		b.b.ChangeMax64(total)
	}
	b.b.Set64(done)
}

func (b *bar) finish() {
	b.b.Finish()
	os.Stderr.WriteString("\n")
}
