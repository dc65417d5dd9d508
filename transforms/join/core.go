package join

// This file holds the pure-Go core of the joins: no Beam types, so it can be
// tested and benchmarked without a runner.

// product emits the combinations of one row (or an absent row) per side that
// kind admits. sides[i] holds the rows of input i for one key and window.
// emit receives a fresh rows slice each call; absent rows are nil and their
// bit in present is clear.
func product(kind Kind, sides [][][]byte, emit func(present uint8, rows [][]byte)) {
	n := len(sides)
	if n == 0 {
		return
	}
	switch kind {
	case Inner:
		for _, s := range sides {
			if len(s) == 0 {
				return
			}
		}
	case LeftOuter:
		if len(sides[0]) == 0 {
			return
		}
	case FullOuter:
		any := false
		for _, s := range sides {
			if len(s) > 0 {
				any = true
				break
			}
		}
		if !any {
			return
		}
	}
	idx := make([]int, n)
	for {
		rows := make([][]byte, n)
		var present uint8
		for i, s := range sides {
			if len(s) > 0 {
				rows[i] = s[idx[i]]
				present |= 1 << uint(i)
			}
		}
		emit(present, rows)
		// Advance the odometer; empty sides count as one absent row.
		i := n - 1
		for ; i >= 0; i-- {
			m := len(sides[i])
			if m == 0 {
				m = 1
			}
			idx[i]++
			if idx[i] < m {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// inInterval reports whether a right row at rts meets a left row at lts for
// bounds lts+lower <= rts <= lts+upper.
func inInterval(lts, rts, lower, upper int64) bool {
	return rts >= lts+lower && rts <= lts+upper
}

// Entries are the rows held in state (see Entry).

// asOf returns the index of the version valid at ts: the one with the
// greatest TS <= ts (the latest arrival among equal times), or -1. versions
// must be sorted by (TS, Seq).
func asOf(versions []Entry, ts int64) int {
	lo, hi := 0, len(versions)
	for lo < hi {
		mid := (lo + hi) / 2
		if versions[mid].TS <= ts {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

// insertSorted inserts e into versions kept sorted by (TS, Seq).
func insertSorted(versions []Entry, e Entry) []Entry {
	i := len(versions)
	for i > 0 && (versions[i-1].TS > e.TS || (versions[i-1].TS == e.TS && versions[i-1].Seq > e.Seq)) {
		i--
	}
	versions = append(versions, Entry{})
	copy(versions[i+1:], versions[i:])
	versions[i] = e
	return versions
}

// pruneVersions drops the versions that no row at or after wm can meet:
// of those with TS <= wm only the last survives (and not even that one if it
// is a deletion).
func pruneVersions(versions []Entry, wm int64) []Entry {
	k := asOf(versions, wm)
	if k <= 0 {
		if k == 0 && versions[0].Delete {
			return versions[1:]
		}
		return versions
	}
	if versions[k].Delete {
		return versions[k+1:]
	}
	return versions[k:]
}
