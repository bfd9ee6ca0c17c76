package evaluate

import (
	"context"
	"fmt"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
	"trashsort/openset"
	"trashsort/predict"
)

// predictAll runs clf over ds with outputs and needs at least one image.
func predictAll(ctx context.Context, clf *classifier.Classifier, ds *data.Dataset, o Options, tta bool) (*predict.Result, error) {
	o.TTA = tta
	pr, err := predict.Dataset(ctx, clf, ds, o.predict(true))
	if err != nil {
		return nil, err
	}
	if pr.Images() == 0 {
		return nil, fmt.Errorf("evaluate: no readable images in %s", ds.Root)
	}
	return pr, nil
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

func scoreUnknown(ctx context.Context, clf *classifier.Classifier, known *predict.Result, o Options) (*UnknownReport, error) {
	if known.Logits == nil {
		return nil, fmt.Errorf("evaluate: open-set scores need a single model's outputs")
	}
	unk, err := predictAll(ctx, clf, o.Unknown, o, o.TTA)
	if err != nil {
		return nil, err
	}
	k := len(clf.Meta.Classes)
	rep := &UnknownReport{Data: o.Unknown.Root, Images: len(unk.Labels), Known: len(known.Labels)}
	add := func(name string, score func(p *predict.Result, i int) float64) {
		var in, out []float64
		for i := range known.Labels {
			in = append(in, score(known, i))
		}
		for i := range unk.Labels {
			out = append(out, score(unk, i))
		}
		rep.Scores = append(rep.Scores, UnknownScore{Score: name, AUROC: openset.AUROC(in, out), FPR95: openset.FPRAtTPR(in, out, 0.95)})
	}
	T := clf.Temperature()
	add(openset.MaxProb, func(p *predict.Result, i int) float64 {
		return openset.MaxProbScore(calibrate.Scale(p.Probs[i*k:(i+1)*k], k, T))
	})
	add(openset.Energy, func(p *predict.Result, i int) float64 {
		return openset.EnergyScore(p.Logits[i*k:(i+1)*k], 1)
	})
	if o.OpenSetFit != nil {
		g, _, err := fitGaussian(ctx, clf, o.OpenSetFit, o)
		if err != nil {
			return nil, err
		}
		rep.FitData = o.OpenSetFit.Root
		add(openset.Mahalanobis, func(p *predict.Result, i int) float64 {
			s, _ := g.Score(p.Features[i*p.Dim : (i+1)*p.Dim])
			return s
		})
	} else if clf.HasOpenSet() {
		rep.FitData = "the model's detector"
		add(openset.Mahalanobis, func(p *predict.Result, i int) float64 {
			s, _ := clf.OpenSetScore(p.Features[i*p.Dim : (i+1)*p.Dim])
			return s
		})
	}
	if clf.HasOpenSet() {
		d := &Detector{Threshold: clf.Meta.OpenSet.Threshold}
		for i := range known.Labels {
			if _, unknown := clf.OpenSetScore(known.Features[i*known.Dim : (i+1)*known.Dim]); !unknown {
				d.KnownKept++
			}
		}
		for i := range unk.Labels {
			if _, unknown := clf.OpenSetScore(unk.Features[i*unk.Dim : (i+1)*unk.Dim]); unknown {
				d.UnknownRefused++
			}
		}
		d.KnownKeptShare = float64(d.KnownKept) / float64(len(known.Labels))
		d.UnknownRefusedShare = float64(d.UnknownRefused) / float64(len(unk.Labels))
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
	g, err := openset.FitGaussian(fit.Features, fit.Labels, len(clf.Meta.Classes), fit.Dim, gaussianShrink)
	if err != nil {
		return nil, 0, fmt.Errorf("evaluate: fitting the Mahalanobis score on %s: %w", ds.Root, err)
	}
	return g, len(fit.Labels), nil
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
	scores := make([]float64, len(ho.Labels))
	for i := range scores {
		scores[i], _ = g.Score(ho.Features[i*ho.Dim : (i+1)*ho.Dim])
	}
	return clf.SetOpenSet(g, classifier.OpenSet{
		Threshold: openset.Threshold(scores, tpr), TPR: tpr, FitImages: n, HeldOutImages: len(scores), Shrink: gaussianShrink,
	})
}

// PredictOutputs is Predict with the logits and pooled features: the
// probabilities calibrated, each output averaged with the horizontal flip's
// when tta is set. It needs a single model.
func PredictOutputs(clf *classifier.Classifier, v classifier.Views, tta bool) (*classifier.Outputs, error) {
	o, err := predict.Outputs(clf, v, tta)
	if err != nil {
		return nil, err
	}
	clf.Calibrate(o.Probs.Data)
	return o, nil
}
