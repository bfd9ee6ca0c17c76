package data

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CorrectionOriginLog is the file, at the top of a corrections folder, in which the
// service records where each stored correction came from, one JSON object
// (a CorrectionOrigin) per line. Training reads only the class folders' images, so
// the log travels with the folder without becoming data.
const CorrectionOriginLog = "origin.jsonl"

// CorrectionOrigin says where a stored correction came from.
type CorrectionOrigin struct {
	// File is the photo, slash-separated and relative to the folder
	// ("glass/3f2a….jpg").
	File  string `json:"file"`
	Label string `json:"label"`
	// Answered is the class the service had answered for this photo, known
	// when the correction carried the answer's feedback token; empty when not.
	Answered string `json:"answered,omitempty"`
	// Client is a short hash of the sender's address (not the address).
	Client string `json:"client"`
	Time   string `json:"time"` // RFC 3339, UTC
	Model  string `json:"model"`
}

// maxOriginLine bounds one line of the log: a line longer than this was
// not written by the service.
const maxOriginLine = 4 << 10

// ReadCorrectionOrigins reads dir's origin log: the records in order, and the
// numbers of the lines that are not records (a line cut short by a crash,
// or edited by hand). A folder without a log has no records and no error.
func ReadCorrectionOrigins(dir string) (recs []CorrectionOrigin, bad []int, err error) {
	p := filepath.Join(dir, CorrectionOriginLog)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("origin log %s: %w", p, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1024), maxOriginLine)
	for n := 1; sc.Scan(); n++ {
		var o CorrectionOrigin
		if json.Unmarshal(sc.Bytes(), &o) != nil || o.File == "" || o.Label == "" {
			bad = append(bad, n)
			continue
		}
		recs = append(recs, o)
	}
	if err := sc.Err(); err != nil {
		return recs, bad, fmt.Errorf("origin log %s: %w", p, err)
	}
	return recs, bad, nil
}
