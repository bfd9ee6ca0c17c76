package disjoint

import "testing"

func TestSets(t *testing.T) {
	s := New(6)
	s.Union(0, 1)
	s.Union(2, 3)
	s.Union(1, 3)
	s.Union(4, 4)
	tests := []struct {
		a, b int
		same bool
	}{
		{0, 3, true}, {2, 1, true}, {0, 4, false}, {4, 5, false}, {5, 5, true},
	}
	for _, tc := range tests {
		if got := s.Find(tc.a) == s.Find(tc.b); got != tc.same {
			t.Errorf("%d and %d in one set: %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
	if s.Find(3) != s.Find(0) || s.Find(0) != 0 {
		t.Errorf("the first argument's representative stays: Find(0) = %d, Find(3) = %d", s.Find(0), s.Find(3))
	}
}
