package main

import "trashsort/batch"

// shardInputs keeps the inputs of shard "i/N" (batch.Shard of each name).
func shardInputs(inputs []string, shard string) ([]string, error) {
	i, n, err := batch.ParseShard(shard)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, in := range inputs {
		if batch.Shard(in, n) == i {
			out = append(out, in)
		}
	}
	return out, nil
}
