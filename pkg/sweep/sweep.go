// Package sweep expands a spec's sweep section into the list of runs it stands for.
//
// Each run is the base spec with its swept values substituted (grid: every combination;
// random: Count draws from a seeded generator), repeated for every seed. A run's ID is a
// hash of the canonical form of its resolved configuration (spec.Canonical: versioned,
// keys at their default left out), so it is the same on every machine and every
// invocation, and stays the same when a key with a default joins the schema: that is
// what makes --resume and --shard safe. TestQuickstartRunIDsAreGolden pins it.
package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sparselab/saerun/pkg/spec"
)

// Run is one training run of a sweep.
type Run struct {
	Index  int    // position in the expanded sweep, from 0
	ID     string // first 12 hex digits of the SHA-256 of Canonical
	Params []Param
	Seed   int64
	Spec   *spec.Spec // resolved: swept values substituted, no sweep section
	Config []byte     // JSON of Spec, every key (defaults included): what ran
	// Canonical is the run's identity (spec.Canonical), the bytes ID hashes.
	Canonical []byte
}

// Param is one swept value of a run.
type Param struct {
	Path  string
	Value any
}

// Expand returns the runs of s (one run if it has no sweep).
func Expand(s *spec.Spec, src *spec.Source) ([]Run, error) {
	return ExpandShard(s, src, 0, 1)
}

// ExpandShard returns every run of s, of which only those of shard i of n (Index mod n
// = i) keep their Spec and Config: the others carry their Index, ID, Params and Seed,
// enough to list the sweep, refuse duplicate runs and tell when all are done, in a
// few hundred bytes each, so that a 100,000-run sweep fits in tens of megabytes.
// Every run is still resolved, since a run's ID is the hash of its resolved
// configuration's canonical form and two points resolving to the same one are refused; the runs are
// resolved on every core.
func ExpandShard(s *spec.Spec, src *spec.Source, i, n int) ([]Run, error) {
	return expandRuns(s, src, func(k int) bool { return k%n == i })
}

// ExpandIDs returns every run of s without its Spec and Config (a dry run's listing).
func ExpandIDs(s *spec.Spec, src *spec.Source) ([]Run, error) {
	return expandRuns(s, src, func(int) bool { return false })
}

// expandRuns resolves every run; keep(k) says which keep their Spec and Config.
func expandRuns(s *spec.Spec, src *spec.Source, keep func(k int) bool) ([]Run, error) {
	points, err := points(s.Sweep)
	if err != nil {
		return nil, err
	}
	shown := numbersOfOneKind(points)
	seeds := []int64{s.Train.Seed}
	if s.Sweep != nil && len(s.Sweep.Seeds) > 0 {
		seeds = s.Sweep.Seeds
	}
	boxed := make([]any, len(seeds)) // each seed as an override value, boxed once
	for i, seed := range seeds {
		boxed[i] = seed
	}
	runs := make([]Run, len(points)*len(seeds))
	errs := make([]error, len(runs))
	resolve := func(k int) {
		point, seed := points[k/len(seeds)], seeds[k%len(seeds)]
		overrides := make(map[string]any, len(point)+1)
		overrides["train.seed"] = boxed[k%len(seeds)]
		for _, p := range point {
			overrides[p.Path] = p.Value
		}
		resolved, err := src.Resolve(overrides)
		if err != nil {
			errs[k] = err
			return
		}
		bufp := buffers.Get().(*[]byte)
		defer buffers.Put(bufp)
		canonical, err := spec.AppendCanonical((*bufp)[:0], resolved)
		*bufp = canonical
		if err != nil {
			errs[k] = err
			return
		}
		runs[k] = Run{Index: k, ID: ID(canonical), Params: shown[k/len(seeds)], Seed: seed}
		if keep(k) {
			canonical = slices.Clone(canonical)
			config, err := json.Marshal(resolved)
			if err != nil {
				errs[k] = err
				return
			}
			runs[k].Spec, runs[k].Config, runs[k].Canonical = resolved, config, canonical
		}
	}
	parallel(len(runs), resolve)

	// Errors and duplicates in index order, as a sequential expansion finds them.
	byID := make(map[string]int, len(runs))
	for k, r := range runs {
		if errs[k] != nil {
			return nil, errs[k]
		}
		if j, dup := byID[r.ID]; dup {
			point, seed := r.Params, r.Seed
			if s.Sweep != nil && s.Sweep.Method == "random" {
				return nil, spec.Errors{src.ErrorAt("sweep.count", "a count the values can fill without repeats, or min/max ranges",
					"runs %d and %d drew the same point (%s): lower count or give more values", j, r.Index, describe(point, seed))}
			}
			e := src.ErrorAt(dupKey(runs[j].Params, point), "distinct values",
				"runs %d and %d have the same configuration (%s): remove repeated values", j, r.Index, describe(point, seed))
			return nil, spec.Errors{e}
		}
		byID[r.ID] = k
	}
	return runs, nil
}

// buffers holds the canonical forms of runs being expanded (a 100,000-run sweep keeps
// only those of its shard).
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// ID is the run id of a canonical form: the first 12 hex digits of its SHA-256.
func ID(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:6])
}

// parallel calls f(0..n-1) on every core, in chunks.
func parallel(n int, f func(int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/64))
	var next atomic.Int64
	const chunk = 256
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= n {
					return
				}
				for k := start; k < min(start+chunk, n); k++ {
					f(k)
				}
			}
		}()
	}
	wg.Wait()
}

// dupKey is the sweep key to blame for two points that resolve to the same run: the
// first parameter whose values differ (one of them equals the default or the other
// after decoding), else the first parameter (a value listed twice).
func dupKey(a, b []Param) string {
	for i := range min(len(a), len(b)) {
		if fmt.Sprint(a[i].Value) != fmt.Sprint(b[i].Value) {
			return "sweep.parameters." + b[i].Path
		}
	}
	if len(b) > 0 {
		return "sweep.parameters." + b[0].Path
	}
	return "sweep"
}

func describe(point []Param, seed int64) string {
	s := ""
	for _, p := range point {
		s += fmt.Sprintf("%s=%v ", p.Path, p.Value)
	}
	return s + fmt.Sprintf("seed=%d", seed)
}

// points lists the swept value combinations, each sorted by path.
func points(sw *spec.Sweep) ([][]Param, error) {
	if sw == nil || len(sw.Parameters) == 0 {
		return [][]Param{nil}, nil
	}
	paths := make([]string, 0, len(sw.Parameters))
	for p := range sw.Parameters {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	switch sw.Method {
	case "grid":
		out := [][]Param{nil}
		for _, path := range paths {
			var next [][]Param
			for _, prefix := range out {
				for _, v := range sw.Parameters[path].Values {
					combo := append(append([]Param(nil), prefix...), Param{path, v})
					next = append(next, combo)
				}
			}
			out = next
		}
		return out, nil
	case "random":
		rng := rand.New(rand.NewPCG(uint64(sw.Seed), 0x5eed5eed))
		out := make([][]Param, sw.Count)
		for i := range out {
			for _, path := range paths {
				out[i] = append(out[i], Param{path, draw(rng, sw.Parameters[path])})
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown sweep method %q", sw.Method)
}

// numbersOfOneKind returns points with the values of a path that mixes integers and
// other numbers (values: [0, 0.5]) all as float64, so that the runs table gives each
// swept path one column type: int64 when every value is an integer (model.sae.k,
// units), double otherwise. The values a run resolves stay as written: only Run.Params
// (what the runs table and listings show) is changed, and shares points' slices when
// nothing is mixed.
func numbersOfOneKind(points [][]Param) [][]Param {
	floats := map[string]bool{} // paths with a non-integer number
	ints := map[string]bool{}
	for _, pt := range points {
		for _, p := range pt {
			switch p.Value.(type) {
			case int, int32, int64, uint32, uint64:
				ints[p.Path] = true
			case float32, float64:
				floats[p.Path] = true
			}
		}
	}
	mixed := false
	for path := range floats {
		mixed = mixed || ints[path]
	}
	if !mixed {
		return points
	}
	out := make([][]Param, len(points))
	for i, pt := range points {
		out[i] = slices.Clone(pt)
		for j, p := range out[i] {
			if floats[p.Path] && ints[p.Path] {
				switch x := p.Value.(type) {
				case int:
					out[i][j].Value = float64(x)
				case int32:
					out[i][j].Value = float64(x)
				case int64:
					out[i][j].Value = float64(x)
				case uint32:
					out[i][j].Value = float64(x)
				case uint64:
					out[i][j].Value = float64(x)
				}
			}
		}
	}
	return out
}

func draw(rng *rand.Rand, p spec.Parameter) any {
	if len(p.Values) > 0 {
		return p.Values[rng.IntN(len(p.Values))]
	}
	lo, hi := *p.Min, *p.Max
	if p.Distribution == "log_uniform" {
		return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
	}
	return lo + rng.Float64()*(hi-lo)
}

// Shard returns the runs that process i of n takes: those whose Index mod n is i
// (runs itself when n is 1: a 100,000-run listing is not copied).
func Shard(runs []Run, i, n int) []Run {
	if n == 1 && i == 0 {
		return runs
	}
	var out []Run
	for _, r := range runs {
		if r.Index%n == i {
			out = append(out, r)
		}
	}
	return out
}

// Count is the number of runs s expands to, without expanding it.
func Count(s *spec.Spec) int {
	seeds := 1
	if s.Sweep != nil && len(s.Sweep.Seeds) > 0 {
		seeds = len(s.Sweep.Seeds)
	}
	if s.Sweep == nil || len(s.Sweep.Parameters) == 0 {
		return seeds
	}
	if s.Sweep.Method == "random" {
		return s.Sweep.Count * seeds
	}
	n := seeds
	for _, p := range s.Sweep.Parameters {
		n *= len(p.Values)
	}
	return n
}
