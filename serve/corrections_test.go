package serve

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"trashsort/data"
)

// jpegWithExif inserts an APP1 Exif segment carrying marker (where a
// phone puts its GPS position) after a JPEG's start-of-image marker.
func jpegWithExif(img []byte, marker string) []byte {
	tiff := []byte("II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00") // little-endian, an empty IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)
	payload = append(payload, marker...)
	n := len(payload) + 2
	seg := append([]byte{0xFF, 0xE1, byte(n >> 8), byte(n)}, payload...)
	return append(append(append([]byte{}, img[:2]...), seg...), img[2:]...)
}

// pngWithText encodes a w x h PNG with a tEXt chunk carrying marker.
func pngWithText(w, h int, marker string) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	png.Encode(&b, m)
	raw := b.Bytes()
	const ihdrEnd = 8 + 4 + 4 + 13 + 4 // signature, IHDR length, type, data, CRC
	chunk := pngChunk("tEXt", append([]byte("Comment\x00"), marker...))
	return append(append(append([]byte{}, raw[:ihdrEnd]...), chunk...), raw[ihdrEnd:]...)
}

// metricValue reads one series of a server's /metrics, or -1.
func metricValue(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// TestFeedbackReencodes: what is stored is the photo's pixels encoded
// afresh, without its metadata (an Exif GPS position) or bytes after the
// image's end, and it decodes to the uploaded size.
func TestFeedbackReencodes(t *testing.T) {
	const marker = "GPSLatitude=48.858370N;GPSLongitude=2.294481E"
	padding := bytes.Repeat([]byte("PAYLOAD!"), (1<<20)/8)
	cases := []struct {
		name    string
		upload  []byte
		w, h    int
		format  string
		secret  []byte
		trailer bool // 1 MiB of padding after the image's end
	}{
		{"exif gps", jpegWithExif(jpegImage(50, 40), marker), 50, 40, "jpeg", []byte(marker), false},
		{"trailing payload", append(jpegImage(60, 30), padding...), 60, 30, "jpeg", padding[:64], true},
		{"png text chunk and trailer", append(pngWithText(30, 20, marker), padding...), 30, 20, "png", []byte(marker), true},
	}
	dir := t.TempDir()
	_, hs := testServer(t, Options{CorrectionsDir: dir, FeedbackPerMinute: 100, MaxBodyBytes: 2 << 20})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if h, err := data.Inspect(c.upload, 1<<20); err != nil || h.W != c.w || h.H != c.h {
				t.Fatalf("the upload itself: %+v %v", h, err)
			}
			status, v := postFeedback(t, hs.URL, c.upload, "glass")
			if status != 201 {
				t.Fatalf("status %d %v", status, v)
			}
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(v["stored"].(string))))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, c.secret) {
				t.Errorf("the stored file keeps %.20q...", c.secret)
			}
			if c.trailer && (bytes.Contains(b, padding[:64]) || len(b) >= len(padding)) {
				t.Errorf("the stored file (%d bytes) keeps the bytes after the image", len(b))
			}
			h, err := data.Inspect(b, 1<<20)
			if err != nil || h.W != c.w || h.H != c.h || h.Format != c.format {
				t.Fatalf("stored image %+v %v, want a %dx%d %s", h, err, c.w, c.h, c.format)
			}
			if _, err := data.Decode(b); err != nil {
				t.Errorf("the stored image does not decode: %v", err)
			}
			if ext := filepath.Ext(v["stored"].(string)); ext != "."+extension(c.format) {
				t.Errorf("stored as %s, a %s", v["stored"], c.format)
			}
		})
	}
}

// TestNewRefusesUnusableCorrections: a corrections folder that cannot be
// created or written is refused when the server starts, naming it, rather
// than found by failed corrections later.
func TestNewRefusesUnusableCorrections(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	classIsFile := filepath.Join(root, "class-is-file")
	os.MkdirAll(classIsFile, 0o755)
	os.WriteFile(filepath.Join(classIsFile, "glass"), []byte("x"), 0o644)
	readOnly := filepath.Join(root, "read-only")
	os.MkdirAll(readOnly, 0o555)
	readOnlyClass := filepath.Join(root, "read-only-class")
	os.MkdirAll(filepath.Join(readOnlyClass, "paper"), 0o755)
	os.Chmod(filepath.Join(readOnlyClass, "paper"), 0o555)
	cases := []struct {
		name, dir string
		named     string // the path the error must name; "" for a folder that is accepted
		root      bool   // permissions, not enforced for root
	}{
		{"under a regular file", filepath.Join(file, "corrections"), filepath.Join(file, "corrections"), false},
		{"a regular file", file, file, false},
		{"a class folder that is a file", classIsFile, filepath.Join(classIsFile, "glass"), false},
		{"read-only", readOnly, readOnly, true},
		{"read-only class folder", readOnlyClass, filepath.Join(readOnlyClass, "paper"), true},
		{"missing, created", filepath.Join(root, "new", "corrections"), "", false},
	}
	clf := testServerClassifier(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.root && os.Geteuid() == 0 {
				t.Skip("running as root: permissions are not enforced")
			}
			s, err := New(clf, "", Options{CorrectionsDir: c.dir, Log: discardLog()})
			if err == nil {
				s.Close()
			}
			switch {
			case c.named == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.named == "":
				if st, err := os.Stat(c.dir); err != nil || !st.IsDir() {
					t.Errorf("the folder was not created: %v", err)
				}
			case err == nil:
				t.Fatalf("New accepted the corrections folder %s", c.dir)
			case !strings.Contains(err.Error(), c.named):
				t.Errorf("error %q does not name %s", err, c.named)
			}
		})
	}
}

// TestCorrectionsSweptAndCounted: at start the temporary files of killed
// writes are removed (recent ones, possibly in progress, are kept) and
// the photos per class are counted once; each store updates the counts.
func TestCorrectionsSweptAndCounted(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	files := []struct {
		path   string
		old    bool
		kept   bool
		images int // what it adds to its class's count
	}{
		{"glass/a.jpg", true, true, 1},
		{"glass/b.png", false, true, 1},
		{"glass/notes.txt", true, true, 0},
		{"glass/.c.jpg.tmp-4242-17", true, false, 0},
		{"glass/.d.jpg.tmp-4243-18", false, true, 0},
		{"paper/.e.jpg.tmp-1-2", true, false, 0},
		{".f.tmp-1-2", true, false, 0},
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, jpegImage(8, 8), 0o644)
		if f.old {
			os.Chtimes(p, old, old)
		}
	}
	_, hs := testServer(t, Options{CorrectionsDir: dir, Log: discardLog()})
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.path))); (err == nil) != f.kept {
			t.Errorf("%s: kept %v, want %v", f.path, err == nil, f.kept)
		}
	}
	series := func(class string) string { return `trashsort_corrections_files{class="` + class + `"}` }
	if got := metricValue(t, hs.URL, series("glass")); got != 2 {
		t.Errorf("glass photos at start: %v, want 2", got)
	}
	if got := metricValue(t, hs.URL, series("paper")); got != 0 {
		t.Errorf("paper photos at start: %v, want 0", got)
	}
	for i, label := range []string{"glass", "paper", "paper"} {
		if status, v := postFeedback(t, hs.URL, jpegImage(20+i, 20), label); status != 201 {
			t.Fatalf("correction %d: %d %v", i, status, v)
		}
	}
	if got := metricValue(t, hs.URL, series("glass")); got != 3 {
		t.Errorf("glass photos after a store: %v, want 3", got)
	}
	if got := metricValue(t, hs.URL, series("paper")); got != 2 {
		t.Errorf("paper photos after two stores: %v, want 2", got)
	}
}

// TestFeedbackDuplicateNotCounted: the same photo sent twice is stored
// once and counted once against the quota.
func TestFeedbackDuplicateNotCounted(t *testing.T) {
	img := jpegImage(50, 40)
	probe := t.TempDir()
	_, hs := testServer(t, Options{CorrectionsDir: probe})
	status, v := postFeedback(t, hs.URL, img, "glass")
	if status != 201 {
		t.Fatalf("status %d %v", status, v)
	}
	st, err := os.Stat(filepath.Join(probe, filepath.FromSlash(v["stored"].(string))))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, hs = testServer(t, Options{CorrectionsDir: dir, CorrectionsMaxBytes: st.Size() + 10})
	cases := []struct {
		name   string
		img    []byte
		status int
	}{
		{"first", img, 201},
		{"again", img, 201},
		{"another photo", jpegImage(40, 50), 507},
	}
	for _, c := range cases {
		if status, v := postFeedback(t, hs.URL, c.img, "glass"); status != c.status {
			t.Errorf("%s: status %d %v, want %d", c.name, status, v, c.status)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "glass")); len(ents) != 1 {
		t.Errorf("glass holds %v, want one photo", ents)
	}
}

// TestFeedbackConcurrentStores: corrections stored at once are all
// counted, per class and in bytes, as the folder holds them.
func TestFeedbackConcurrentStores(t *testing.T) {
	dir := t.TempDir()
	_, hs := testServer(t, Options{CorrectionsDir: dir, FeedbackPerMinute: 1000})
	const n = 12
	classes := []string{"glass", "metal"}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			statuses[i], _ = postFeedback(t, hs.URL, jpegImage(10+i, 12), classes[i%2])
		})
	}
	wg.Wait()
	var bytesHeld int64
	for i, st := range statuses {
		if st != 201 {
			t.Errorf("correction %d: status %d", i, st)
		}
	}
	for _, class := range classes {
		ents, _ := os.ReadDir(filepath.Join(dir, class))
		for _, e := range ents {
			info, _ := e.Info()
			bytesHeld += info.Size()
		}
		if got := metricValue(t, hs.URL, `trashsort_corrections_files{class="`+class+`"}`); got != float64(len(ents)) || len(ents) != n/2 {
			t.Errorf("%s: counted %v, the folder holds %d, want %d", class, got, len(ents), n/2)
		}
	}
	if info, err := os.Stat(filepath.Join(dir, data.CorrectionOriginLog)); err == nil {
		bytesHeld += info.Size() // the origin log counts against the quota too
	}
	if got := metricValue(t, hs.URL, "trashsort_corrections_bytes"); got != float64(bytesHeld) {
		t.Errorf("counted %v bytes, the folder holds %d", got, bytesHeld)
	}
}

// pngChunk is one PNG chunk: length, type, data and CRC.
func pngChunk(typ string, payload []byte) []byte {
	b := make([]byte, 0, 12+len(payload))
	b = append(b, byte(len(payload)>>24), byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload)))
	b = append(b, typ...)
	b = append(b, payload...)
	crc := crc32.ChecksumIEEE(append([]byte(typ), payload...))
	return append(b, byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc))
}
