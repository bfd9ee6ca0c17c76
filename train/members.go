package train

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"trashsort/data"
)

// MemberPath is the file (or folder) of ensemble member i (0-based) for
// path: path itself, then path with -2, -3, ... before the extension.
func MemberPath(path string, i int) string {
	if i == 0 || path == "" {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), i+1, ext)
}

// MemberConfig is cfg for ensemble member i: seed cfg.Seed+i, its model
// file and log folder named by MemberPath.
func MemberConfig(cfg Config, i int) Config {
	cfg.Seed += uint64(i)
	cfg.Out = MemberPath(cfg.Out, i)
	cfg.LogDir = MemberPath(cfg.LogDir, i)
	return cfg
}

// FitMembers trains the members of an ensemble one after the other on the
// same data, each with MemberConfig(cfg, i), and returns their results in
// order (classifier.LoadEnsemble reads their files back as one model).
// progress, when set, is called before each member trains (res nil) and
// after (res its result). It stops at the first member that fails or is
// stopped (ErrStopped), returning that error.
func FitMembers(ctx context.Context, cfg Config, members int, trainSet, valSet *data.Dataset, weightsPath string, progress func(i int, mc Config, res *Result)) ([]*Result, error) {
	if members < 1 {
		return nil, fmt.Errorf("train: %d ensemble members: want at least 1", members)
	}
	var results []*Result
	for i := 0; i < members; i++ {
		mc := MemberConfig(cfg, i)
		if progress != nil {
			progress(i, mc, nil)
		}
		res, err := Fit(ctx, mc, trainSet, valSet, weightsPath)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(i, mc, res)
		}
		results = append(results, res)
	}
	return results, nil
}
