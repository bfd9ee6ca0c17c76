package train

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"trashsort/atomicfile"
	"trashsort/classifier"
	"trashsort/nn"
	"trashsort/safetensors"
)

const checkpointFormat = "trashsort-checkpoint/1"

// state is what a resumed run needs besides the weights.
type state struct {
	Epoch         int        `json:"epoch"` // epochs completed
	Stage         int        `json:"stage"`
	LR            float64    `json:"lr"`
	Iterations    int64      `json:"iterations"`
	Wait          int        `json:"wait"`
	ReduceWait    int        `json:"reduce_wait"`
	StageBestLoss float64    `json:"stage_best_loss"`
	Stopped       bool       `json:"stopped"`
	StoppedStage  int        `json:"stopped_stage"`
	EMASteps      int64      `json:"ema_steps,omitempty"`
	Best          EpochLog   `json:"best"`
	History       []EpochLog `json:"history"`

	restored  map[string]classifier.Tensor // optimizer slots read from a checkpoint
	bestSaved int                          // the epoch whose best weights are in the checkpoint folder
}

func newState() state { return state{StageBestLoss: math.MaxFloat64} }

func (t *trainer) checkpointPath() string { return filepath.Join(t.cfg.Checkpoint, "last.safetensors") }

func (t *trainer) paramNames() map[*nn.Param]string {
	names := map[*nn.Param]string{}
	for _, l := range t.m.Layers {
		for _, p := range l.Params() {
			names[p] = l.Base().Name() + "/" + p.Name
		}
	}
	return names
}

// saveCheckpoint writes weights, optimizer slots and state atomically.
func (t *trainer) saveCheckpoint() error {
	ts := classifier.Tensors(t.m)
	names := t.paramNames()
	for _, p := range t.params {
		for k, s := range t.opt.Slots(p) {
			ts["optimizer/"+names[p]+"/"+strconv.Itoa(k)] = classifier.Tensor{Shape: p.Value.Shape, Data: s}
		}
	}
	if t.ema != nil {
		for i, p := range t.ema.params {
			ts["ema/"+names[p]] = classifier.Tensor{Shape: p.Value.Shape, Data: t.ema.shadow[i]}
		}
		t.st.EMASteps = t.ema.steps
	}
	t.st.Iterations = t.opt.Iterations()
	st, err := json.Marshal(t.st)
	if err != nil {
		return err
	}
	meta, err := classifier.Metadata(t.clf.Meta)
	if err != nil {
		return err
	}
	meta["format"] = checkpointFormat
	meta["state"] = string(st)
	meta["optimizer"] = t.opt.Name()
	// The best epoch's weights go in the checkpoint folder first, under the
	// epoch's name, so a resume never takes them from --out (which another
	// run may have written); the previous best file is removed only after
	// the checkpoint that stops naming it is in place.
	best := ""
	if t.best != nil && t.st.Best.Epoch > 0 {
		best = t.bestPath(t.st.Best.Epoch)
		if t.st.bestSaved != t.st.Best.Epoch {
			if err := atomicfile.Write(best, func(w io.Writer) error { return safetensors.Write(w, t.best, nil) }); err != nil {
				return err
			}
			t.st.bestSaved = t.st.Best.Epoch
		}
	}
	if err := atomicfile.Write(t.checkpointPath(), func(w io.Writer) error {
		return safetensors.Write(w, ts, meta)
	}); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(t.cfg.Checkpoint, "best-epoch*.safetensors"))
	for _, p := range old {
		if p != best {
			os.Remove(p)
		}
	}
	return nil
}

// bestPath is the checkpoint's copy of the weights of best epoch e.
func (t *trainer) bestPath(e int) string {
	return filepath.Join(t.cfg.Checkpoint, fmt.Sprintf("best-epoch%d.safetensors", e))
}

// loadCheckpoint restores a run; a missing checkpoint starts afresh.
func (t *trainer) loadCheckpoint() error {
	path := t.checkpointPath()
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if t.cfg.Progress != nil {
			fmt.Fprintf(t.cfg.Progress, "no checkpoint at %s: starting from scratch\n", path)
		}
		return nil
	}
	ts, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return err
	}
	if meta["format"] != checkpointFormat {
		return fmt.Errorf("%s: not a trashsort checkpoint", path)
	}
	meta["format"] = classifier.FormatVersion
	m, err := classifier.ParseMeta(meta, path)
	if err != nil {
		return err
	}
	if m.Backbone != t.clf.Meta.Backbone || m.Size != t.clf.Meta.Size || strings.Join(m.Classes, ",") != strings.Join(t.clf.Meta.Classes, ",") || m.Head != t.clf.Meta.Head {
		return fmt.Errorf("%s: checkpoint is for %s %dpx classes %v head %+v, this run is %s %dpx classes %v head %+v",
			path, m.Backbone, m.Size, m.Classes, m.Head, t.clf.Meta.Backbone, t.clf.Meta.Size, t.clf.Meta.Classes, t.clf.Meta.Head)
	}
	var st state
	if err := json.Unmarshal([]byte(meta["state"]), &st); err != nil {
		return fmt.Errorf("%s: corrupt state: %w", path, err)
	}
	weights := map[string]classifier.Tensor{}
	slots := map[string]classifier.Tensor{}
	for k, v := range ts {
		if strings.HasPrefix(k, "optimizer/") {
			slots[strings.TrimPrefix(k, "optimizer/")] = v
		} else if strings.HasPrefix(k, "ema/") {
			slots[k] = v
		} else {
			weights[k] = v
		}
	}
	if err := classifier.SetTensors(t.m, weights, path); err != nil {
		return err
	}
	st.restored = slots
	t.st = st
	if st.Best.Epoch > 0 {
		best, _, err := safetensors.ReadFile(t.bestPath(st.Best.Epoch))
		if err != nil {
			return fmt.Errorf("resume: the checkpoint's best weights (epoch %d): %w", st.Best.Epoch, err)
		}
		t.best = best
		t.st.bestSaved = st.Best.Epoch
	}
	if t.cfg.Progress != nil {
		fmt.Fprintf(t.cfg.Progress, "resuming from %s after epoch %d\n", path, st.Epoch)
	}
	return nil
}

// restoreOptimizer copies the checkpoint's optimizer slots into the current optimizer.
func (t *trainer) restoreOptimizer() error {
	names := t.paramNames()
	for _, p := range t.params {
		for k, s := range t.opt.Slots(p) {
			v, ok := t.st.restored[names[p]+"/"+strconv.Itoa(k)]
			if !ok || len(v.Data) != len(s) {
				return fmt.Errorf("checkpoint lacks optimizer state for %s", names[p])
			}
			copy(s, v.Data)
		}
	}
	t.opt.SetIterations(t.st.Iterations)
	if t.ema != nil {
		for i, p := range t.ema.params {
			v, ok := t.st.restored["ema/"+names[p]]
			if !ok || len(v.Data) != len(t.ema.shadow[i]) {
				return fmt.Errorf("checkpoint lacks the weight average of %s", names[p])
			}
			copy(t.ema.shadow[i], v.Data)
		}
		t.ema.steps = t.st.EMASteps
	}
	t.st.restored = nil
	return nil
}
