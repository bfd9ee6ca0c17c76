package train

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// memoryMB returns the process's resident set size now and at its peak so
// far, in MB (0 where the system does not say: /proc/self/statm and
// getrusage are Linux's).
func memoryMB() (now, peak float64) {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				now = float64(pages*int64(os.Getpagesize())) / (1 << 20)
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		peak = float64(ru.Maxrss) / 1024 // kilobytes on Linux
	}
	// The kernel updates the high-water mark lazily: it can trail now.
	return now, max(peak, now)
}
