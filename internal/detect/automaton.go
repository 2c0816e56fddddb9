package detect

// automaton is an Aho–Corasick automaton compiled to a dense DFA over ASCII
// case-folded bytes: scanning costs one table lookup per byte.
type automaton struct {
	delta [][256]int32
	// out[state] lists keyword indexes ending at state (after folding the
	// failure chain in).
	out [][]int
}

func fold(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func newAutomaton(keywords []string) *automaton {
	a := &automaton{delta: make([][256]int32, 1), out: make([][]int, 1)}
	// Trie, with -1 for missing edges.
	for i := range a.delta[0] {
		a.delta[0][i] = -1
	}
	for k, kw := range keywords {
		s := int32(0)
		for i := 0; i < len(kw); i++ {
			c := fold(kw[i])
			if a.delta[s][c] < 0 {
				var row [256]int32
				for j := range row {
					row[j] = -1
				}
				a.delta = append(a.delta, row)
				a.out = append(a.out, nil)
				a.delta[s][c] = int32(len(a.delta) - 1)
			}
			s = a.delta[s][c]
		}
		a.out[s] = append(a.out[s], k)
	}
	// Breadth-first: failure links folded into a complete transition table.
	fail := make([]int32, len(a.delta))
	queue := []int32{}
	for c := 0; c < 256; c++ {
		if t := a.delta[0][c]; t >= 0 {
			fail[t] = 0
			queue = append(queue, t)
		} else {
			a.delta[0][c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		a.out[s] = append(a.out[s], a.out[fail[s]]...)
		for c := 0; c < 256; c++ {
			if t := a.delta[s][c]; t >= 0 {
				fail[t] = a.delta[fail[s]][c]
				queue = append(queue, t)
			} else {
				a.delta[s][c] = a.delta[fail[s]][c]
			}
		}
	}
	// Upper-case bytes behave as their lower-case letters.
	for s := range a.delta {
		for c := 'A'; c <= 'Z'; c++ {
			a.delta[s][c] = a.delta[s][c+'a'-'A']
		}
	}
	return a
}

// hit is a keyword occurrence: the keyword index and the offset just past
// it.
type hit struct{ kw, end int }

// scan returns the keyword occurrences in s and the runs of at least
// minDigits digits (spaces, dots, dashes, slashes, parentheses and plus
// signs between them count as part of the run).
func (a *automaton) scan(s string, minDigits int) (hits []hit, runs [][2]int) {
	state := int32(0)
	digits, runStart := 0, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		state = a.delta[state][c]
		if out := a.out[state]; len(out) > 0 {
			for _, k := range out {
				hits = append(hits, hit{k, i + 1})
			}
		}
		switch {
		case c >= '0' && c <= '9':
			if digits == 0 {
				runStart = i
			}
			digits++
		case digits > 0 && (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' || c == '+'):
		default:
			if digits >= minDigits {
				runs = append(runs, [2]int{runStart, i})
			}
			digits = 0
		}
	}
	if digits >= minDigits {
		runs = append(runs, [2]int{runStart, len(s)})
	}
	return hits, runs
}
