package explain

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// CachedModel remembers the scores of every row it has had scored, so that
// asking again for a row (AutoExplain's rounds re-draw the earlier rounds'
// samples) costs no model call. It is safe for concurrent use.
//
// Rows are keyed by a 128-bit hash of their values (two independent maphash
// seeds), not by the values themselves: an image row can be megabytes. Two
// different rows collide with probability about 2⁻¹²⁸ per pair.
type CachedModel struct {
	m     Model
	cache scoreCache[[2]uint64]
}

// NewCachedModel wraps m.
func NewCachedModel(m Model) *CachedModel {
	return &CachedModel{m: m, cache: newScoreCache[[2]uint64]()}
}

// Predict implements Model: it sends m only the rows it has not scored
// before (each distinct row once).
func (c *CachedModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	keys := make([][2]uint64, len(rows))
	var buf []byte
	for i, r := range rows {
		buf = buf[:0]
		for _, v := range r {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
		keys[i] = [2]uint64{maphash.Bytes(c.cache.seeds[0], buf), maphash.Bytes(c.cache.seeds[1], buf)}
	}
	return c.cache.predict(ctx, keys, func(ctx context.Context, idx []int) ([][]float64, error) {
		sub := make([][]float64, len(idx))
		for j, i := range idx {
			sub[j] = rows[i]
		}
		return c.m.Predict(ctx, sub)
	})
}

// Scored returns the rows sent to the model and the rows answered from the
// cache so far.
func (c *CachedModel) Scored() (model, cached int64) { return c.cache.counts() }

// CachedTextModel is CachedModel for texts, keyed by the text itself.
type CachedTextModel struct {
	m     TextModel
	cache scoreCache[string]
}

// NewCachedTextModel wraps m.
func NewCachedTextModel(m TextModel) *CachedTextModel {
	return &CachedTextModel{m: m, cache: newScoreCache[string]()}
}

// PredictText implements TextModel, sending m only texts it has not scored
// before.
func (c *CachedTextModel) PredictText(ctx context.Context, texts []string) ([][]float64, error) {
	return c.cache.predict(ctx, texts, func(ctx context.Context, idx []int) ([][]float64, error) {
		sub := make([]string, len(idx))
		for j, i := range idx {
			sub[j] = texts[i]
		}
		return c.m.PredictText(ctx, sub)
	})
}

// Scored returns the texts sent to the model and those answered from the
// cache so far.
func (c *CachedTextModel) Scored() (model, cached int64) { return c.cache.counts() }

// scoreCache maps row keys to their scores.
type scoreCache[K comparable] struct {
	seeds          [2]maphash.Seed
	mu             sync.Mutex
	scores         map[K][]float64
	missed, served atomic.Int64
}

func newScoreCache[K comparable]() scoreCache[K] {
	return scoreCache[K]{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, scores: make(map[K][]float64)}
}

func (c *scoreCache[K]) counts() (int64, int64) { return c.missed.Load(), c.served.Load() }

// predict answers keys from the cache and scores the rest with score, which
// gets the indices (into keys) of one row per distinct unknown key. The
// model call runs without the lock, so concurrent callers may both score a
// row neither has yet: that wastes a row, never gives a wrong answer.
func (c *scoreCache[K]) predict(ctx context.Context, keys []K, score func(context.Context, []int) ([][]float64, error)) ([][]float64, error) {
	out := make([][]float64, len(keys))
	var (
		miss  []int
		first = map[K]int{} // key → its index in miss
	)
	c.mu.Lock()
	for i, k := range keys {
		if s, ok := c.scores[k]; ok {
			out[i] = slices.Clone(s)
		} else if _, seen := first[k]; !seen {
			first[k] = len(miss)
			miss = append(miss, i)
		}
	}
	c.mu.Unlock()
	c.served.Add(int64(len(keys) - len(miss)))
	if len(miss) == 0 {
		return out, nil
	}
	got, err := score(ctx, miss)
	if err != nil {
		return nil, err
	}
	if len(got) != len(miss) {
		return nil, fmt.Errorf("explain: model returned %d rows of scores for %d rows", len(got), len(miss))
	}
	c.missed.Add(int64(len(miss)))
	c.mu.Lock()
	for j, i := range miss {
		c.scores[keys[i]] = got[j]
	}
	c.mu.Unlock()
	for i, k := range keys {
		if out[i] == nil {
			out[i] = slices.Clone(got[first[k]])
		}
	}
	return out, nil
}
