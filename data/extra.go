package data

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// AddFolder adds the images of root/<class>/ (for example a folder of
// corrections collected by the service) to d. Every class folder must be
// one of d's classes; missing classes are fine. It returns how many images
// it added.
func (d *Dataset) AddFolder(root string) (int, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return 0, fmt.Errorf("dataset: extra folder: %w", err)
	}
	added := 0
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		label := slices.Index(d.Classes, e.Name())
		if label < 0 {
			return 0, fmt.Errorf("dataset: extra folder %s: class folder %q is not one of %v", root, e.Name(), d.Classes)
		}
		err := filepath.WalkDir(filepath.Join(root, e.Name()), func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !de.IsDir() && IsImageName(de.Name()) && !strings.HasPrefix(de.Name(), ".") {
				d.Items = append(d.Items, Item{Path: p, Label: label})
				added++
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("dataset: extra folder %s: %w", root, err)
		}
	}
	return added, nil
}
