//go:build !linux

package serve

import "errors"

// freeSpace is not known here: stores are bounded by the folder's quota only.
func freeSpace(string) (int64, error) { return 0, errors.New("free space unknown on this system") }
