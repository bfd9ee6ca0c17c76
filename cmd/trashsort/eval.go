package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"trashsort/atomicfile"
	"trashsort/classifier"
	"trashsort/data"
	"trashsort/evaluate"
	"trashsort/tensor"
)

func init() { register(evalCmd, predictCmd) }

func evalCmd() *cobra.Command {
	var modelPath, dataDir, reportDir, mapPath, unknownDir, fitDir string
	format := formatTable
	var tta, bf16, explainMistakes bool
	var inf inferFlags
	var batch, mistakes int
	var minConf float64
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score a model on class folders: accuracy, per-class metrics, confusion matrix, mistakes",
		RunE: func(cmd *cobra.Command, args []string) error {
			clf, err := loadModel(cmd.ErrOrStderr(), modelPath, bf16, inf)
			if err != nil {
				return err
			}
			var mapping data.Mapping
			if mapPath != "" {
				if mapping, err = data.ReadMapping(mapPath); err != nil {
					return err
				}
			}
			site, err := data.FromSite(dataDir, clf.Meta.Classes, mapping)
			if err != nil {
				return err
			}
			opts := evaluate.Options{Batch: batch, TTA: tta, Mistakes: mistakes, MinConfidence: minConf, Explain: explainMistakes && reportDir != ""}
			if unknownDir != "" {
				u, err := data.FromPhotos(unknownDir)
				if err != nil {
					return fmt.Errorf("--unknown: %w", err)
				}
				site.Unknown.Items = append(site.Unknown.Items, u.Items...)
			}
			if len(site.Unknown.Items) > 0 {
				opts.Unknown = site.Unknown
			}
			if fitDir != "" {
				if opts.OpenSetFit, err = data.FromFolder(fitDir, clf.Meta.Classes); err != nil {
					return fmt.Errorf("--fit-openset: %w", err)
				}
			}
			r, err := evaluate.Run(cmd.Context(), clf, site.Known, opts)
			if err != nil {
				return err
			}
			r.Model = modelPath
			return writeReport(cmd, r, reportDir, format)
		},
	}
	f := cmd.Flags()
	modelFilesFlag(f, &modelPath)
	f.StringVar(&dataDir, "data", "", "class folders to score (e.g. datasets/trashnet/test)")
	f.StringVar(&mapPath, "map", "", "JSON file mapping the data's folders to the model's classes, or to null for things that are none of them (scored as unknown)")
	f.StringVar(&unknownDir, "unknown", "", "photos of none of the model's classes: report how well each open-set score (max_prob, energy, mahalanobis) tells them from the data's")
	f.StringVar(&fitDir, "fit-openset", "", "labelled class folders (the training split) that fit the Mahalanobis score's class means and covariance for --unknown")
	f.StringVar(&reportDir, "report", "", "folder for report.json, confusion.png and mistakes.html")
	formatFlag(f, &format, "output: table (precision, recall, f1 and support per class, calibration, confusion matrix), json (the whole report) or csv (one row per class, then macro avg, weighted avg and accuracy)")
	f.BoolVar(&tta, "tta", false, "test-time augmentation: average with the horizontal flip")
	f.IntVar(&batch, "batch", 32, "batch size")
	f.IntVar(&mistakes, "mistakes", 24, "how many confident mistakes to show")
	f.BoolVar(&bf16, "bf16", false, "run the convolutions in bfloat16 (to check the accuracy cost of serve --bf16)")
	inf.register(f)
	minConfidenceFlag(f, &minConf)
	f.BoolVar(&explainMistakes, "explain", true, "add Grad-CAM overlays to the mistakes page")
	cmd.MarkFlagRequired("data")
	return cmd
}

// writeReport prints r in format and, when dir is not empty, writes the
// report files into dir.
func writeReport(cmd *cobra.Command, r *evaluate.Report, dir string, format outputFormat) error {
	out := cmd.OutOrStdout()
	var err error
	switch format {
	case formatJSON:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	case formatCSV:
		err = r.WriteCSV(out)
	default:
		err = r.WriteText(out)
	}
	if err != nil {
		return err
	}
	if dir == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report.json: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n')); err != nil {
		return err
	}
	if err := r.WriteConfusionPNG(filepath.Join(dir, "confusion.png")); err != nil {
		return err
	}
	if err := r.WriteMistakesHTML(filepath.Join(dir, "mistakes.html")); err != nil {
		return err
	}
	if err := r.WriteReliabilityPNG(filepath.Join(dir, "reliability.png")); err != nil {
		return err
	}
	if err := r.WriteRiskCoveragePNG(filepath.Join(dir, "risk_coverage.png")); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "report: %s/{report.json,confusion.png,mistakes.html,reliability.png,risk_coverage.png}\n", dir)
	return nil
}

// errSomeFailed makes the exit status say that some inputs could not be read.
var errSomeFailed = errors.New("some inputs could not be classified")

func predictCmd() *cobra.Command {
	var modelPath string
	format := formatTable
	var topK, batch int
	var tta bool
	var inf inferFlags
	var minConf float64
	var shard string
	cmd := &cobra.Command{
		Use:   "predict [FILE|DIR|-]...",
		Short: "Classify images: top-k classes with probabilities",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			clf, err := loadModel(cmd.ErrOrStderr(), modelPath, false, inf)
			if err != nil {
				return err
			}
			inputs, err := expandInputs(args)
			if err != nil {
				return err
			}
			if shard != "" {
				if inputs, err = shardInputs(inputs, shard); err != nil {
					return fmt.Errorf("--shard: %w", err)
				}
			}
			w := newPredictionWriter(cmd.OutOrStdout(), format, clf, clf.Threshold(minConf), topK)
			failed := 0
			sizes := clf.InputSizes()
			for lo := 0; lo < len(inputs); lo += batch {
				var names []string
				xs := make([][]float32, len(sizes))
				for _, in := range inputs[lo:min(lo+batch, len(inputs))] {
					img, err := readInput(cmd.InOrStdin(), in)
					if err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "trashsort: %v\n", err)
						failed++
						continue
					}
					for k, s := range sizes {
						xs[k] = data.Resize(img, s, s, clf.Meta.Resize).AppendFloats(xs[k])
					}
					names = append(names, in)
				}
				if len(names) == 0 {
					continue
				}
				views := classifier.Views{}
				for k, s := range sizes {
					views[s] = &tensor.Tensor{Shape: []int{len(names), s, s, 3}, Data: xs[k]}
				}
				k := len(clf.Meta.Classes)
				if clf.HasOpenSet() {
					o, err := evaluate.PredictOutputs(clf, views, tta)
					if err != nil {
						return err
					}
					d := o.Features.Shape[1]
					for i, n := range names {
						w.write(n, o.Probs.Data[i*k:(i+1)*k], o.Features.Data[i*d:(i+1)*d])
					}
					continue
				}
				p, err := evaluate.Predict(clf, views, tta)
				if err != nil {
					return err
				}
				for i, n := range names {
					w.write(n, p.Data[i*k:(i+1)*k], nil)
				}
			}
			if err := w.flush(); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%w: %d of %d", errSomeFailed, failed, len(inputs))
			}
			return nil
		},
	}
	f := cmd.Flags()
	modelFilesFlag(f, &modelPath)
	formatFlag(f, &format, "output: table, json (one object per line) or csv (one row per image)")
	f.BoolVar(&tta, "tta", false, "average with the horizontal flip")
	inf.register(f)
	f.IntVar(&topK, "top", 3, "how many classes to show")
	f.IntVar(&batch, "batch", 16, "images per forward pass")
	minConfidenceFlag(f, &minConf)
	f.StringVar(&shard, "shard", "", "i/N: classify only the files of shard i of N (by a hash of each file's name as printed, the rule of trashsort-beam predict's output shards), for N workers such as an Indexed Job")
	return cmd
}

// expandInputs turns folders into the image files below them.
func expandInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			out = append(out, a) // reported when read
			continue
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && data.IsImageName(d.Name()) {
				out = append(out, p)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readInput(stdin io.Reader, name string) (*data.RGB, error) {
	if name != "-" {
		return data.DecodeFile(name)
	}
	b, err := io.ReadAll(io.LimitReader(stdin, data.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	img, err := data.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	return img, nil
}

// minConfidenceFlag registers --min-confidence.
func minConfidenceFlag(f *pflag.FlagSet, v *float64) {
	f.Float64Var(v, "min-confidence", 0, `answer "unsure" below this calibrated confidence (0: the model's threshold, chosen on validation; -1: never)`)
}

type predictionWriter struct {
	w         io.Writer
	format    outputFormat
	clf       *classifier.Classifier
	classes   []string
	threshold float64
	top       int
	tw        *tabwriter.Writer
	cw        *csv.Writer
}

func newPredictionWriter(w io.Writer, format outputFormat, clf *classifier.Classifier, threshold float64, top int) *predictionWriter {
	classes := clf.Meta.Classes
	p := &predictionWriter{w: w, format: format, clf: clf, classes: classes, threshold: threshold, top: min(max(top, 1), len(classes))}
	switch format {
	case formatCSV:
		p.cw = csv.NewWriter(w)
		p.cw.Write(append([]string{"file", "label", "confidence"}, classes...))
	case formatJSON:
	default:
		p.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(p.tw, "file\tprediction\tconfidence\ttop")
	}
	return p
}

// write prints one image's answer; features, when the model has an
// open-set detector, are the image's pooled features.
func (p *predictionWriter) write(name string, probs, features []float32) {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	label, _ := p.clf.LabelOpen(probs, features, p.threshold)
	switch p.format {
	case formatCSV:
		row := []string{name, label, fmt.Sprintf("%.4f", probs[idx[0]])}
		for _, v := range probs {
			row = append(row, fmt.Sprintf("%.4f", v))
		}
		p.cw.Write(row)
	case formatJSON:
		all := map[string]float64{}
		for i, c := range p.classes {
			all[c] = float64(probs[i])
		}
		var top []map[string]any
		for _, i := range idx[:p.top] {
			top = append(top, map[string]any{"label": p.classes[i], "probability": probs[i]})
		}
		b, _ := json.Marshal(map[string]any{"file": name, "label": label, "unsure": label == classifier.Unsure, "unknown": label == classifier.Unknown, "guess": p.classes[idx[0]],
			"confidence": probs[idx[0]], "top": top, "probabilities": all})
		fmt.Fprintln(p.w, string(b))
	default:
		var parts []string
		for _, i := range idx[:p.top] {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", p.classes[i], 100*probs[i]))
		}
		switch label {
		case classifier.Unsure:
			label = "unsure: " + p.classes[idx[0]] + "?"
		case classifier.Unknown:
			label = "not one of " + strings.Join(p.classes, ", ") + ": retake the photo or use general waste"
		}
		fmt.Fprintf(p.tw, "%s\t%s\t%.1f%%\t%s\n", name, label, 100*probs[idx[0]], strings.Join(parts, ", "))
	}
}

func (p *predictionWriter) flush() error {
	if p.cw != nil {
		p.cw.Flush()
		return p.cw.Error()
	}
	if p.tw != nil {
		return p.tw.Flush()
	}
	return nil
}
