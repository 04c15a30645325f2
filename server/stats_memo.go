package server

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"sync"

	"github.com/explainer-sidecar/explainer/sampler"
)

// statsMemo remembers the training statistics of the last few training
// data sets, by content: a client that sends the same training data with
// every request, as KServe's :explain does with serve's --training-data,
// pays for the quartiles (a sort of every column) once, not per job. The
// statistics are read-only once made, so jobs share them, as the
// instances of a batch do.
type statsMemo struct {
	mu      sync.Mutex
	seeds   [2]maphash.Seed
	entries map[statsKey]*sampler.Stats
	order   []statsKey // oldest first
}

// statsKey is a 128-bit hash of a training data set and of what its
// statistics depend on.
type statsKey [2]uint64

// statsMemoSize bounds the memo: statistics are small (per feature, its
// bins and frequencies), the data they come from is not kept.
const statsMemoSize = 16

var trainingStatsMemo = &statsMemo{
	seeds:   [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
	entries: map[statsKey]*sampler.Stats{},
}

// get returns the statistics of values (rows of p features), with names,
// categorical and the discretizer kind, from the memo or made by compute
// (whose errors are not remembered).
func (m *statsMemo) get(values []float64, p int, names []string, categorical []int, kind string, compute func() (*sampler.Stats, error)) (*sampler.Stats, error) {
	key := m.key(values, p, names, categorical, kind)
	m.mu.Lock()
	stats, ok := m.entries[key]
	m.mu.Unlock()
	if ok {
		return stats, nil
	}
	stats, err := compute()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[key]; !ok {
		if len(m.order) == statsMemoSize {
			delete(m.entries, m.order[0])
			m.order = slices.Delete(m.order, 0, 1)
		}
		m.entries[key] = stats
		m.order = append(m.order, key)
	}
	return stats, nil
}

func (m *statsMemo) key(values []float64, p int, names []string, categorical []int, kind string) statsKey {
	var key statsKey
	var buf [4096]byte
	for i, seed := range m.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		b := binary.LittleEndian.AppendUint64(buf[:0], uint64(p))
		b = binary.LittleEndian.AppendUint64(b, uint64(len(values)))
		for _, v := range values {
			if len(b) == len(buf) {
				h.Write(b)
				b = buf[:0]
			}
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		h.Write(b)
		for _, n := range names {
			h.WriteString(n)
			h.WriteByte(0)
		}
		h.WriteByte(1)
		for _, c := range categorical {
			b = binary.LittleEndian.AppendUint64(buf[:0], uint64(c))
			h.Write(b)
		}
		h.WriteByte(1)
		h.WriteString(kind)
		key[i] = h.Sum64()
	}
	return key
}
