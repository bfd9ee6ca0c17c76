package evaluate

import (
	"context"
	"fmt"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
	"trashsort/openset"
	"trashsort/tensor"
)

// predictions are a model's outputs over a dataset, in the loader's order.
type predictions struct {
	raw      []float32 // uncalibrated probabilities, [images, classes]
	labels   []int
	paths    []string
	skipped  int
	logits   []float32 // with outputs: [images, classes]
	features []float32 // with outputs: [images, dim]
	dim      int
}

// loaderFor reads ds at the model's input sizes, in order, unaugmented.
func loaderFor(clf *classifier.Classifier, ds *data.Dataset, o Options) (*data.Loader, error) {
	sizes := clf.InputSizes()
	return data.NewLoader(ds, data.Config{Size: sizes[0], Sizes: sizes[1:], Resize: clf.Meta.Resize, BatchSize: max(o.Batch, 1), Workers: o.Workers})
}

// predictAll runs clf over ds with outputs (see collect).
func predictAll(ctx context.Context, clf *classifier.Classifier, ds *data.Dataset, o Options, tta bool) (*predictions, error) {
	l, err := loaderFor(clf, ds, o)
	if err != nil {
		return nil, err
	}
	pr, err := collect(ctx, clf, l, ds, tta, true)
	if err != nil {
		return nil, err
	}
	if len(pr.labels) == 0 {
		return nil, fmt.Errorf("evaluate: no readable images in %s", ds.Root)
	}
	return pr, nil
}

// collect runs clf over every batch of l. With outputs it also keeps the
// logits and pooled features (single models only); with tta each output is
// the mean over the image and its horizontal flip.
func collect(ctx context.Context, clf *classifier.Classifier, l *data.Loader, ds *data.Dataset, tta, outputs bool) (*predictions, error) {
	pr := &predictions{}
	ch, errf := l.Epoch(ctx, 0)
	for b := range ch {
		pr.skipped += len(b.Skipped)
		if len(b.Labels) == 0 {
			continue
		}
		var err error
		if outputs {
			err = pr.addOutputs(clf, b.Images(), tta)
		} else {
			var p *tensor.Tensor
			if p, err = PredictRaw(clf, b.Images(), tta); err == nil {
				pr.raw = append(pr.raw, p.Data...)
			}
		}
		if err != nil {
			for range ch {
			}
			return nil, err
		}
		pr.labels = append(pr.labels, b.Labels...)
		for _, it := range b.Items {
			pr.paths = append(pr.paths, ds.Items[it].Path)
		}
	}
	if err := errf(); err != nil {
		return nil, err
	}
	return pr, nil
}

func (pr *predictions) addOutputs(clf *classifier.Classifier, v classifier.Views, tta bool) error {
	o, err := clf.PredictOutputs(v)
	if err != nil {
		return err
	}
	if tta {
		flipped := classifier.Views{}
		for s, x := range v {
			flipped[s] = flip(x)
		}
		q, err := clf.PredictOutputs(flipped)
		if err != nil {
			return err
		}
		for _, pair := range [][2]*tensor.Tensor{{o.Probs, q.Probs}, {o.Logits, q.Logits}, {o.Features, q.Features}} {
			for i := range pair[0].Data {
				pair[0].Data[i] = (pair[0].Data[i] + pair[1].Data[i]) / 2
			}
		}
	}
	pr.raw = append(pr.raw, o.Probs.Data...)
	pr.logits = append(pr.logits, o.Logits.Data...)
	pr.features = append(pr.features, o.Features.Data...)
	pr.dim = o.Features.Shape[1]
	return nil
}

// UnknownScore is how well one open-set score separates the dataset's
// photos (in-class) from the unknown ones.
type UnknownScore struct {
	Score string  `json:"score"`
	AUROC float64 `json:"auroc"`
	// FPR95 is the share of unknown photos kept at the threshold that
	// keeps 95% of the in-class ones.
	FPR95 float64 `json:"fpr_at_95_tpr"`
}

// UnknownReport measures open-set recognition on photos of none of the classes.
type UnknownReport struct {
	Data   string         `json:"data"`
	Images int            `json:"images"`
	Known  int            `json:"known_images"`
	Scores []UnknownScore `json:"scores"`
	// FitData is where the Mahalanobis score's class statistics came from.
	FitData string `json:"fit_data,omitempty"`
	// Detector is the model's own detector's answers, when it has one.
	Detector *Detector `json:"detector,omitempty"`
}

// Shrinkage of the Mahalanobis score's shared covariance towards its mean
// variance: pooled features have more dimensions (2048) than a small
// dataset has images.
const gaussianShrink = 0.1

func scoreUnknown(ctx context.Context, clf *classifier.Classifier, known *predictions, o Options) (*UnknownReport, error) {
	if known.logits == nil {
		return nil, fmt.Errorf("evaluate: open-set scores need a single model's outputs")
	}
	unk, err := predictAll(ctx, clf, o.Unknown, o, o.TTA)
	if err != nil {
		return nil, err
	}
	k := len(clf.Meta.Classes)
	rep := &UnknownReport{Data: o.Unknown.Root, Images: len(unk.labels), Known: len(known.labels)}
	add := func(name string, score func(p *predictions, i int) float64) {
		var in, out []float64
		for i := range known.labels {
			in = append(in, score(known, i))
		}
		for i := range unk.labels {
			out = append(out, score(unk, i))
		}
		rep.Scores = append(rep.Scores, UnknownScore{Score: name, AUROC: openset.AUROC(in, out), FPR95: openset.FPRAtTPR(in, out, 0.95)})
	}
	T := clf.Temperature()
	add(openset.MaxProb, func(p *predictions, i int) float64 {
		return openset.MaxProbScore(calibrate.Scale(p.raw[i*k:(i+1)*k], k, T))
	})
	add(openset.Energy, func(p *predictions, i int) float64 {
		return openset.EnergyScore(p.logits[i*k:(i+1)*k], 1)
	})
	if o.OpenSetFit != nil {
		g, _, err := fitGaussian(ctx, clf, o.OpenSetFit, o)
		if err != nil {
			return nil, err
		}
		rep.FitData = o.OpenSetFit.Root
		add(openset.Mahalanobis, func(p *predictions, i int) float64 {
			s, _ := g.Score(p.features[i*p.dim : (i+1)*p.dim])
			return s
		})
	} else if clf.HasOpenSet() {
		rep.FitData = "the model's detector"
		add(openset.Mahalanobis, func(p *predictions, i int) float64 {
			s, _ := clf.OpenSetScore(p.features[i*p.dim : (i+1)*p.dim])
			return s
		})
	}
	if clf.HasOpenSet() {
		d := &Detector{Threshold: clf.Meta.OpenSet.Threshold}
		for i := range known.labels {
			if _, unknown := clf.OpenSetScore(known.features[i*known.dim : (i+1)*known.dim]); !unknown {
				d.KnownKept++
			}
		}
		for i := range unk.labels {
			if _, unknown := clf.OpenSetScore(unk.features[i*unk.dim : (i+1)*unk.dim]); unknown {
				d.UnknownRefused++
			}
		}
		d.KnownKeptShare = float64(d.KnownKept) / float64(len(known.labels))
		d.UnknownRefusedShare = float64(d.UnknownRefused) / float64(len(unk.labels))
		rep.Detector = d
	}
	return rep, nil
}

// Detector is what the model's own open-set detector answers on the data.
type Detector struct {
	Threshold           float64 `json:"threshold"`
	KnownKept           int     `json:"known_kept"`
	KnownKeptShare      float64 `json:"known_kept_share"`
	UnknownRefused      int     `json:"unknown_refused"`
	UnknownRefusedShare float64 `json:"unknown_refused_share"`
}

// fitGaussian fits class Gaussians on the pooled features of ds.
func fitGaussian(ctx context.Context, clf *classifier.Classifier, ds *data.Dataset, o Options) (*openset.Gaussian, int, error) {
	fit, err := predictAll(ctx, clf, ds, o, false)
	if err != nil {
		return nil, 0, err
	}
	g, err := openset.FitGaussian(fit.features, fit.labels, len(clf.Meta.Classes), fit.dim, gaussianShrink)
	if err != nil {
		return nil, 0, fmt.Errorf("evaluate: fitting the Mahalanobis score on %s: %w", ds.Root, err)
	}
	return g, len(fit.labels), nil
}

// DefaultOpenSetTPR is the share of in-class held-out images the stored
// open-set threshold keeps.
const DefaultOpenSetTPR = 0.95

// FitOpenSet fits the model's "none of my classes" detector and stores it
// in clf: class Gaussians on the pooled features of fit (the training
// split, unaugmented) and the threshold that keeps tpr of heldOut's
// images (the validation split; DefaultOpenSetTPR when tpr is 0).
func FitOpenSet(ctx context.Context, clf *classifier.Classifier, fit, heldOut *data.Dataset, tpr float64, o Options) error {
	if tpr == 0 {
		tpr = DefaultOpenSetTPR
	}
	if !(tpr > 0 && tpr < 1) {
		return fmt.Errorf("evaluate: open-set true positive rate %g outside (0, 1)", tpr)
	}
	g, n, err := fitGaussian(ctx, clf, fit, o)
	if err != nil {
		return err
	}
	ho, err := predictAll(ctx, clf, heldOut, o, false)
	if err != nil {
		return err
	}
	scores := make([]float64, len(ho.labels))
	for i := range scores {
		scores[i], _ = g.Score(ho.features[i*ho.dim : (i+1)*ho.dim])
	}
	return clf.SetOpenSet(g, classifier.OpenSet{
		Threshold: openset.Threshold(scores, tpr), TPR: tpr, FitImages: n, HeldOutImages: len(scores), Shrink: gaussianShrink,
	})
}

// PredictOutputs is Predict with the logits and pooled features: the
// probabilities calibrated, each output averaged with the horizontal flip's
// when tta is set. It needs a single model.
func PredictOutputs(clf *classifier.Classifier, v classifier.Views, tta bool) (*classifier.Outputs, error) {
	pr := &predictions{}
	if err := pr.addOutputs(clf, v, tta); err != nil {
		return nil, err
	}
	n := len(pr.raw) / len(clf.Meta.Classes)
	clf.Calibrate(pr.raw)
	return &classifier.Outputs{
		Probs:    &tensor.Tensor{Shape: []int{n, len(clf.Meta.Classes)}, Data: pr.raw},
		Logits:   &tensor.Tensor{Shape: []int{n, len(clf.Meta.Classes)}, Data: pr.logits},
		Features: &tensor.Tensor{Shape: []int{n, pr.dim}, Data: pr.features},
	}, nil
}
