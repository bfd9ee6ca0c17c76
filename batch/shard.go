package batch

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
)

// Shard is the part, of n, that a file belongs to: the FNV-1a hash of its
// name as reported modulo n. It depends on the name alone, so workers that
// list the same files agree without talking to each other, and a file
// stays in its shard when others are added.
func Shard(name string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return int(h.Sum64() % uint64(n))
}

// ParseShard reads "i/N" (0 <= i < N), the --shard of predict.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want i/N with 0 <= i < N (e.g. 0/4)", s)
	}
	return i, n, nil
}

// ShardName is the file name of output shard i of n: prefix-0000i-of-0000n.jsonl.
func ShardName(prefix string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.jsonl", prefix, i, n)
}

// EncodeShard returns records as JSON lines sorted by file name, so that a
// shard's bytes depend on its files alone, not on the order a distributed
// run happened to finish them in.
func EncodeShard(records []Record) ([]byte, error) {
	rs := append([]Record(nil), records...)
	sort.SliceStable(rs, func(a, b int) bool { return rs[a].File < rs[b].File })
	var out []byte
	for _, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("record for %s: %w", r.File, err)
		}
		out = append(append(out, b...), '\n')
	}
	return out, nil
}
