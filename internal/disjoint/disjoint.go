// Package disjoint holds disjoint sets (union-find) over the integers
// 0..n-1.
package disjoint

// Sets partitions 0..n-1; each element starts alone.
type Sets []int

// New returns n elements, each in a set of its own.
func New(n int) Sets {
	s := make(Sets, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// Find returns the representative of i's set (halving paths on the way).
func (s Sets) Find(i int) int {
	for s[i] != i {
		s[i] = s[s[i]]
		i = s[i]
	}
	return i
}

// Union merges the sets of a and b; a's representative stays.
func (s Sets) Union(a, b int) {
	if ra, rb := s.Find(a), s.Find(b); ra != rb {
		s[rb] = ra
	}
}
