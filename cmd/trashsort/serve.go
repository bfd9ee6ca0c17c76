package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"trashsort/serve"
)

func init() { register(serveCmd) }

func serveCmd() *cobra.Command {
	var modelPath, addr, hintsPath, keyPath, logFormat, logLevel string
	var o serve.Options
	var bf16, warm bool
	var inf inferFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the model: JSON API, Prometheus metrics and a web page",
		Long: `Serve the model over HTTP:
  POST /v1/classify   an image (multipart field "image", or the raw body) -> JSON
  POST /v1/classify/batch  several multipart "image" fields -> one answer or error per file
  POST /v1/classify?explain=1  adds the Grad-CAM heat map (PNG, base64)
  POST /v1/feedback   "image", "label" (and "token"): stores a correction (with --corrections)
  GET  /v1/model      classes, backbone, input size, validation accuracy
  GET  /healthz, GET /metrics (Prometheus), GET / (the web page)
Concurrent requests are micro-batched into one forward pass; a full queue
answers 503. SIGTERM or Ctrl-C shuts down gracefully.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Checked before loading the model: a typo fails at once.
			logger, err := serveLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			o.Log = logger
			clf, err := loadModel(cmd.ErrOrStderr(), modelPath, bf16, inf)
			if err != nil {
				return err
			}
			if hintsPath != "" {
				b, err := os.ReadFile(hintsPath)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(b, &o.Hints); err != nil {
					return fmt.Errorf("%s: want a JSON object of class to hint: %w", hintsPath, err)
				}
			}
			if keyPath != "" {
				key, err := os.ReadFile(keyPath)
				if err != nil {
					return fmt.Errorf("--feedback-key-file: %w", err)
				}
				o.FeedbackKey = bytes.TrimSpace(key)
			}
			s, err := serve.New(clf, modelPath, o)
			if err != nil {
				return err
			}
			if warm {
				if err := s.Warm(cmd.Context()); err != nil {
					return err
				}
			}
			return s.ListenAndServe(cmd.Context(), addr, func(a string) {
				fmt.Fprintf(cmd.ErrOrStderr(), "serving %s (%s, %d classes) on http://%s\n", modelPath, clf.Meta.Backbone, len(clf.Meta.Classes), a)
			})
		},
	}
	f := cmd.Flags()
	modelFilesFlag(f, &modelPath)
	f.StringVar(&addr, "addr", ":8080", "listen address")
	f.StringVar(&hintsPath, "hints", "", "JSON file of per-class disposal hints (default: TrashNet's)")
	f.Int64Var(&o.MaxBodyBytes, "max-body", serve.DefaultMaxBodyBytes, "largest request body in bytes (413 beyond)")
	f.IntVar(&o.MaxPixels, "max-pixels", serve.DefaultMaxPixels, "largest image in pixels, checked from its header before decoding (413 beyond)")
	f.IntVar(&o.DecodeConcurrency, "decode-concurrency", 0, "images decoded at once (0: one per core)")
	f.Int64Var(&o.DecodeMemory, "decode-memory", serve.DefaultDecodeMemory, "estimated bytes of the decodes in progress; an image over it alone gets 413")
	f.Int64Var(&o.UploadMemory, "upload-memory", serve.DefaultUploadMemory, "request-body bytes received by all requests in progress together; beyond it uploads get 503 with Retry-After")
	f.IntVar(&o.MaxConns, "max-conns", serve.DefaultMaxConns, "open connections accepted at once; further clients wait in the listen backlog")
	f.DurationVar(&o.Timeout, "timeout", serve.DefaultTimeout, "per-request limit once the body is read: decode wait, decode, queue and forward pass (503 beyond)")
	f.IntVar(&o.MaxBatch, "max-batch", serve.DefaultMaxBatch, "largest micro-batch (1: no batching)")
	f.DurationVar(&o.BatchWait, "batch-wait", serve.DefaultBatchWait, "how long to wait for more requests to batch")
	f.IntVar(&o.QueueSize, "queue", serve.DefaultQueueSize, "waiting requests before answering 503")
	f.DurationVar(&o.ReadHeaderTimeout, "read-header-timeout", serve.DefaultReadHeaderTimeout, "time to read a request's headers")
	f.DurationVar(&o.ReadTimeout, "read-timeout", serve.DefaultReadTimeout, "time to read a whole request, body included")
	f.DurationVar(&o.WriteTimeout, "write-timeout", serve.DefaultWriteTimeout, "time from the end of the headers to the end of the answer")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", serve.DefaultIdleTimeout, "how long an idle keep-alive connection stays open")
	f.StringVar(&o.CorrectionsDir, "corrections", "", "store corrections sent with POST /v1/feedback (the page's \"Wrong?\" form) here as class folders; off when empty")
	f.IntVar(&o.FeedbackPerMinute, "feedback-per-minute", serve.DefaultFeedbackPerMinute, "most corrections stored per minute, all clients together; one client address gets a fifth (429 beyond)")
	f.IntVar(&o.CorrectionsMaxPerClass, "corrections-max-per-class", serve.DefaultCorrectionsMaxPerClass, "most photos one class folder of --corrections may hold (507 beyond)")
	f.BoolVar(&o.FeedbackTokens, "feedback-tokens", false, "accept corrections only of photos this server answered: the correction sends back the answer's feedback_token (403 without)")
	f.StringVar(&keyPath, "feedback-key-file", "", "file holding the key (16 bytes or more) of feedback tokens, shared by replicas; default a random key per start")
	f.Int64Var(&o.CorrectionsMaxBytes, "corrections-max-bytes", serve.DefaultCorrectionsMaxBytes, "most bytes the --corrections folder may hold, counting what it held at start (507 beyond)")
	f.IntVar(&o.MaxFiles, "max-files", serve.DefaultMaxFiles, "most images in one /v1/classify/batch request")
	f.StringVar(&logFormat, "log-format", "text", "log lines as text (key=value) or json, on standard error")
	f.StringVar(&logLevel, "log-level", "info", "least level logged: debug (a line per request), info, warn or error")
	minConfidenceFlag(f, &o.MinConfidence)
	inf.register(f)
	f.BoolVar(&warm, "prewarm", true, "before listening, run the largest batch once and touch the decode memory, so that the first burst of requests is as fast as later ones")
	f.BoolVar(&bf16, "bf16", false, "run the frozen convolutions in bfloat16 (about 1.6x the throughput on AVX512_BF16 CPUs; scores differ slightly from float32)")
	return cmd
}

// serveLogger returns the service's logger: a text or JSON handler on w
// at the least level named.
func serveLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
