package classifier

import (
	"io"
	"os"
	"sync"
)

// A Format is another layout that a model can be read back from (such as
// the Keras .h5 export of package keras). The package that writes it
// registers it, so that Load, and every command that takes --model, reads
// its files too.
type Format struct {
	// Name is the format's name in messages ("keras-h5").
	Name string
	// Match reports whether the file at path is in this format, from its
	// name and its first bytes (at most 512).
	Match func(path string, head []byte) bool
	// Load reads the file.
	Load func(path string) (*Classifier, error)
}

var (
	formatsMu sync.RWMutex
	formats   []Format
)

// RegisterFormat adds a format that Load tries before the safetensors layout.
func RegisterFormat(f Format) {
	formatsMu.Lock()
	defer formatsMu.Unlock()
	formats = append(formats, f)
}

// formatOf returns the registered format of the file at path, or nil.
func formatOf(path string) *Format {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	if len(formats) == 0 {
		return nil
	}
	head := make([]byte, 512)
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	for i := range formats {
		if formats[i].Match(path, head[:n]) {
			return &formats[i]
		}
	}
	return nil
}
