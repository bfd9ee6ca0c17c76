package serve

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"trashsort/classifier"
	"trashsort/internal/shared"
	"trashsort/internal/testimages"
	"trashsort/models"
)

// The load tests measure the figures docs/SERVING.md quotes;
// they run with TRASHSORT_LOADTEST=1 (make loadtest), not in make test.
func skipUnlessLoadTest(t *testing.T) {
	if testing.Short() || os.Getenv("TRASHSORT_LOADTEST") == "" {
		t.Skip("load test: set TRASHSORT_LOADTEST=1 (make loadtest)")
	}
}

// procKB reads a field (VmRSS, VmHWM) of /proc/self/status in kB.
func procKB(field string) int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// cpuTimes returns the process's user and system CPU time so far.
func cpuTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// resetPeakRSS starts a new VmHWM measurement.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func startServer(t *testing.T, clf *classifier.Classifier, o Options) *httptest.Server {
	return startWarmServer(t, clf, o, false)
}

// startWarmServer is startServer that runs Server.Warm first when warm is
// set, as `trashsort serve` does.
func startWarmServer(t *testing.T, clf *classifier.Classifier, o Options, warm bool) *httptest.Server {
	s, err := New(clf, "", o)
	if err != nil {
		t.Fatal(err)
	}
	if warm {
		t0 := time.Now()
		if err := s.Warm(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Logf("warm-up took %v", time.Since(t0).Round(time.Millisecond))
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.Config = s.HTTPServer()
	hs.Start()
	t.Cleanup(func() { hs.Close(); s.Close() })
	return hs
}

// TestLoadDecodeBombs: 20 concurrent decode bombs against InceptionV3 at
// 224 px (what `trashsort run` trains) and at 299 px, with the default
// limits, four of each: PNGs of 16-bit RGBA zeros at the pixel limit (4096 x
// 3072, decoded) and claiming 7000 x 7000 (refused from the header), 4096 x
// 3072 baseline JPEGs, and progressive JPEGs of 4096 x 3072 and 7000 x 7000. Each must be answered 200 or 413, or
// 503 when the machine cannot decode it within the timeout (shed, never a
// crash); the latencies and the process's peak RSS are logged.
func TestLoadDecodeBombs(t *testing.T) {
	skipUnlessLoadTest(t)
	for _, size := range []int{224, 299} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			clf, err := classifier.New(classifier.Meta{Backbone: "inception_v3", Size: size, Classes: []string{"cardboard", "glass", "metal", "paper", "plastic", "trash"}}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := models.LoadKerasBase(clf.Model, shared.Path(t, "weights/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"), clf.BaseEnd); err != nil {
				t.Fatal(err)
			}
			hs := startWarmServer(t, clf, Options{Log: discardLog()}, true)
			var b bytes.Buffer
			const limW, limH = 4096, 3072 // DefaultMaxPixels
			png.Encode(&b, image.NewNRGBA64(image.Rect(0, 0, limW, limH)))
			pngAtLimit := b.Bytes()
			bigJPEG := jpegImage(limW, limH)
			overLimit := testimages.PNGHeader(7000, 7000, 16, 6)
			if code, body := post(t, hs, jpegImage(300, 300)); code != 200 { // warm up
				t.Fatalf("warm-up: %d %s", code, body)
			}
			runtime.GC()
			resetPeakRSS()
			rss0 := procKB("VmRSS")
			type answer struct {
				kind string
				code int
				lat  time.Duration
			}
			bodies := map[string][]byte{
				"png16 4096x3072": pngAtLimit, "png16 7000x7000 header": overLimit, "jpeg 4096x3072": bigJPEG,
				"progressive jpeg 4096x3072": testimages.ProgressiveJPEG(limW, limH), "progressive jpeg 7000x7000": testimages.ProgressiveJPEG(7000, 7000),
			}
			kinds := []string{"png16 4096x3072", "png16 7000x7000 header", "jpeg 4096x3072", "progressive jpeg 4096x3072", "progressive jpeg 7000x7000"}
			answers := make([]answer, 20)
			var wg sync.WaitGroup
			start := make(chan struct{})
			client := &http.Client{Timeout: time.Minute}
			for i := range answers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					k := kinds[i%len(kinds)]
					<-start
					t0 := time.Now()
					resp, err := client.Post(hs.URL+"/v1/classify", "application/octet-stream", bytes.NewReader(bodies[k]))
					a := answer{kind: k, lat: time.Since(t0)}
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						a.code = resp.StatusCode
					}
					answers[i] = a
				}()
			}
			u0, s0 := cpuTimes()
			t0 := time.Now()
			close(start)
			wg.Wait()
			wall := time.Since(t0)
			u1, s1 := cpuTimes()
			peak := procKB("VmHWM")
			sort.Slice(answers, func(i, j int) bool { return answers[i].lat < answers[j].lat })
			var lines []string
			for _, a := range answers {
				lines = append(lines, fmt.Sprintf("%s %d %v", a.kind, a.code, a.lat.Round(time.Millisecond)))
				if a.code != 200 && a.code != 413 && a.code != 503 {
					t.Errorf("%s answered %d", a.kind, a.code)
				}
			}
			t.Logf("%d px: 20 concurrent bombs in %v on %d CPUs (CPU time: user %v, system %v); RSS before %d MB, peak %d MB\n%s", size, wall.Round(time.Millisecond), runtime.GOMAXPROCS(0),
				(u1 - u0).Round(time.Millisecond), (s1 - s0).Round(time.Millisecond), rss0>>10, peak>>10, strings.Join(lines, "\n"))
		})
	}
}

// TestLoadSoak: many requests at high concurrency mixing good images,
// corrupt files, non-images, oversize bodies and wrong fields (small model):
// no 5xx but 503, RSS and goroutines logged before and after.
func TestLoadSoak(t *testing.T) {
	skipUnlessLoadTest(t)
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("TRASHSORT_SOAK_N")); err == nil {
		n = v
	}
	const conc = 32
	hs := startServer(t, testServerClassifier(t), Options{MaxBodyBytes: 256 << 10, Log: discardLog()})
	good := jpegImage(320, 240)
	mpGood, mpType := multipartBody("image", good)
	mpGoodBytes := mpGood.(*bytes.Buffer).Bytes()
	mpWrong, mpWrongType := multipartBody("photo", good)
	mpWrongBytes := mpWrong.(*bytes.Buffer).Bytes()
	reqs := []struct {
		name, ctype string
		body        []byte
	}{
		{"good raw", "image/jpeg", good},
		{"good multipart", mpType, mpGoodBytes},
		{"corrupt", "image/jpeg", good[:len(good)/2]},
		{"not an image", "text/plain", []byte(strings.Repeat("hello ", 100))},
		{"oversize", "image/jpeg", make([]byte, 300<<10)},
		{"wrong field", mpWrongType, mpWrongBytes},
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	do := func(i int) (int, error) {
		r := reqs[i%len(reqs)]
		resp, err := client.Post(hs.URL+"/v1/classify", r.ctype, bytes.NewReader(r.body))
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for i := 0; i < 2*len(reqs); i++ {
		do(i)
	}
	client.CloseIdleConnections()
	runtime.GC()
	time.Sleep(200 * time.Millisecond)
	g0, rss0 := runtime.NumGoroutine(), procKB("VmRSS")
	var mu sync.Mutex
	codes := map[string]map[int]int{}
	clientErrs := map[string]int{}
	next := make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
	}()
	var lats []time.Duration
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s := time.Now()
				code, err := do(i)
				lat := time.Since(s)
				name := reqs[i%len(reqs)].name
				mu.Lock()
				lats = append(lats, lat)
				if err != nil {
					clientErrs[name]++
				} else {
					if codes[name] == nil {
						codes[name] = map[int]int{}
					}
					codes[name][code]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	client.CloseIdleConnections()
	runtime.GC()
	time.Sleep(500 * time.Millisecond)
	g1, rss1 := runtime.NumGoroutine(), procKB("VmRSS")
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	bad := 0
	for name, m := range codes {
		for c, k := range m {
			if c >= 500 && c != 503 {
				bad += k
				t.Errorf("%s: %d answers %d", name, k, c)
			}
		}
	}
	t.Logf("%d requests at concurrency %d in %v (%.0f req/s); p50 %v p99 %v max %v; answers %v; client-side errors %v; RSS %d -> %d MB; goroutines %d -> %d",
		n, conc, wall.Round(time.Millisecond), float64(n)/wall.Seconds(), lats[len(lats)/2], lats[len(lats)*99/100], lats[len(lats)-1], codes, clientErrs, rss0>>10, rss1>>10, g0, g1)
	if g1 > g0+5 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
}

// TestLoadStalledUploads: 200 connections that each declare a 10 MiB body
// and send 10 bytes, with the default limits, against two servers: the
// smallest backbone (MobileNetV2 alpha 0.35, the red-team probe's kind of
// model), whose peak RSS must stay under 600 MB, and InceptionV3 at 224 px,
// whose warmed buffers alone take more than that, so there the attack must
// add under 64 MB to the peak. A client sending a real photo meanwhile is
// answered in both.
func TestLoadStalledUploads(t *testing.T) {
	skipUnlessLoadTest(t)
	for _, tc := range []struct {
		backbone, weights string
		peakMB, grownMB   int // limits on the peak RSS and on what the attack adds; 0: none
	}{
		{"mobilenet_v2_035", "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5", 600, 64},
		{"inception_v3", "weights/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", 0, 64},
	} {
		t.Run(tc.backbone, func(t *testing.T) {
			clf, err := classifier.New(classifier.Meta{Backbone: tc.backbone, Size: 224, Classes: []string{"cardboard", "glass", "metal", "paper", "plastic", "trash"}}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := models.LoadKerasBase(clf.Model, shared.Path(t, tc.weights), clf.BaseEnd); err != nil {
				t.Fatal(err)
			}
			hs := startWarmServer(t, clf, Options{Log: discardLog()}, true)
			if code, body := post(t, hs, jpegImage(300, 300)); code != 200 { // warm up
				t.Fatalf("warm-up: %d %s", code, body)
			}
			runtime.GC()
			rss0 := procKB("VmRSS")
			resetPeakRSS()
			addr := hs.Listener.Addr().String()
			const n = 200
			for i := 0; i < n; i++ {
				c := stalledUpload(t, addr, 10<<20, 10)
				defer c.Close()
			}
			time.Sleep(time.Second)
			t0 := time.Now()
			code, body := post(t, hs, jpegImage(640, 480))
			took := time.Since(t0)
			peak := procKB("VmHWM")
			t.Logf("%s: %d connections declaring 10 MiB and sending 10 bytes: a photo answered %d in %v; RSS before %d MB, peak %d MB", tc.backbone, n, code, took.Round(time.Millisecond), rss0>>10, peak>>10)
			if code != http.StatusOK {
				t.Fatalf("a real photo beside the stalled uploads: %d %s", code, body)
			}
			if grown := (peak - rss0) >> 10; grown > tc.grownMB {
				t.Errorf("the stalled uploads raised the peak RSS by %d MB (limit %d)", grown, tc.grownMB)
			}
			if tc.peakMB > 0 && peak>>10 > tc.peakMB {
				t.Errorf("peak RSS %d MB, limit %d MB", peak>>10, tc.peakMB)
			}
		})
	}
}
