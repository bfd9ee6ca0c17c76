package train

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// epochBar is a per-epoch progress bar showing loss, accuracy, img/s and ETA.
type epochBar struct {
	b *progressbar.ProgressBar
}

func newEpochBar(w io.Writer, batches int, desc string) *epochBar {
	if w == nil {
		return &epochBar{}
	}
	return &epochBar{b: progressbar.NewOptions(batches,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (e *epochBar) step(loss, acc float64, images int, elapsed time.Duration) {
	if e.b == nil {
		return
	}
	ips := float64(images) / elapsed.Seconds()
	if loss > 0 {
		e.b.Describe(fmt.Sprintf("loss %.4f acc %.4f %5.1f img/s", loss, acc, ips))
	} else {
		e.b.Describe(fmt.Sprintf("%5.1f img/s", ips))
	}
	e.b.Add(1)
}

func (e *epochBar) done() {
	if e.b != nil {
		e.b.Finish()
	}
}
