package data

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"unsafe"
)

func sha(x []float32) string {
	h := sha256.Sum256(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x)))
	return hex.EncodeToString(h[:8])
}

// The generator's output is pinned bit for bit: a change of the distribution, the
// random streams or the arithmetic (a fused multiply-add, a platform's math library)
// fails here. Regenerate the hashes only with a deliberate change of the data set.
func TestSyntheticIsBitIdenticalToItsPinnedOutput(t *testing.T) {
	c := SyntheticConfig{Dim: 16, Features: 40, Samples: 100, Active: 3, Seed: 7}
	f, err := SyntheticFeatures(c)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Synthetic(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sha(f), "ef7a549b51746768"; got != want {
		t.Errorf("features hash %s, want %s", got, want)
	}
	if got, want := sha(s.X), "4fb41a6ceaa7e0cd"; got != want {
		t.Errorf("samples hash %s, want %s", got, want)
	}
	s2, _ := Synthetic(c)
	if !slices.Equal(s.X, s2.X) {
		t.Error("two calls with one config differ")
	}
	c.Seed = 8
	if s3, _ := Synthetic(c); slices.Equal(s.X, s3.X) {
		t.Error("another seed gave the same data")
	}
}

func TestSyntheticFeaturesHaveUnitNorm(t *testing.T) {
	c := SyntheticConfig{Dim: 64, Features: 200, Samples: 1, Active: 1, Seed: 1}
	f, _ := SyntheticFeatures(c)
	var meanAbsCos float64
	for i := range c.Features {
		var n2 float64
		for _, v := range f[i*c.Dim : (i+1)*c.Dim] {
			n2 += float64(v) * float64(v)
		}
		if math.Abs(math.Sqrt(n2)-1) > 1e-6 {
			t.Fatalf("feature %d has norm %v", i, math.Sqrt(n2))
		}
		if i > 0 {
			meanAbsCos += math.Abs(dot(f[i*c.Dim:(i+1)*c.Dim], f[(i-1)*c.Dim:i*c.Dim]))
		}
	}
	// Random directions in 64 dimensions: E|cos| = sqrt(2/(π·64)) ≈ 0.0997.
	if meanAbsCos /= float64(c.Features - 1); meanAbsCos < 0.08 || meanAbsCos > 0.12 {
		t.Errorf("mean |cos| of neighbouring features %v, want about 0.1 (isotropic directions)", meanAbsCos)
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// Each sample is exactly Active distinct features with magnitudes in [0.5, 1.5),
// every feature is on about equally often, and the vectors are those sums.
func TestSyntheticSamplesAreSparseSumsOfFeatures(t *testing.T) {
	c := SyntheticConfig{Dim: 32, Features: 50, Samples: 4000, Active: 5, Seed: 3}
	f, _ := SyntheticFeatures(c)
	s, _ := Synthetic(c)
	counts := make([]int, c.Features)
	syntheticCodes(c, func(i int, idx []int32, mags []float64) {
		if len(idx) != c.Active {
			t.Fatalf("sample %d has %d features, want %d", i, len(idx), c.Active)
		}
		seen := map[int32]bool{}
		want := make([]float64, c.Dim)
		for a, j := range idx {
			if seen[j] {
				t.Fatalf("sample %d draws feature %d twice", i, j)
			}
			seen[j] = true
			counts[j]++
			if mags[a] < 0.5 || mags[a] >= 1.5 {
				t.Fatalf("magnitude %v outside [0.5, 1.5)", mags[a])
			}
			for d := range want {
				want[d] += mags[a] * float64(f[int(j)*c.Dim+d])
			}
		}
		for d, v := range s.Row(i) {
			if math.Abs(float64(v)-want[d]) > 1e-5 {
				t.Fatalf("sample %d feature %d = %v, want %v", i, d, v, want[d])
			}
		}
	})
	mean := float64(c.Samples*c.Active) / float64(c.Features) // 400
	for j, n := range counts {
		if math.Abs(float64(n)-mean) > 5*math.Sqrt(mean) {
			t.Errorf("feature %d is on %d times, want about %v", j, n, mean)
		}
	}
	if s.Labels[0] != NoLabel || s.IsImage() {
		t.Errorf("synthetic rows have label %d / image shape %d×%d, want NoLabel and none", s.Labels[0], s.Height, s.Width)
	}
}

// The ground truth is identifiable: encoding with the true features (the Active
// largest of F·x) finds most of each sample's true features, so an SAE with
// latents >= features and k = active has something to converge to.
func TestSyntheticSupportIsRecoverableByTopKWithTheTrueFeatures(t *testing.T) {
	c := SyntheticConfig{Dim: 256, Features: 512, Samples: 500, Active: 4, Seed: 0}
	f, _ := SyntheticFeatures(c)
	s, _ := Synthetic(c)
	found, total := 0, 0
	syntheticCodes(c, func(i int, idx []int32, _ []float64) {
		x := s.Row(i)
		type score struct {
			j int
			v float64
		}
		scores := make([]score, c.Features)
		for j := range scores {
			scores[j] = score{j, dot(f[j*c.Dim:(j+1)*c.Dim], x)}
		}
		sort.Slice(scores, func(a, b int) bool { return scores[a].v > scores[b].v })
		top := map[int]bool{}
		for _, sc := range scores[:c.Active] {
			top[sc.j] = true
		}
		for _, j := range idx {
			if top[int(j)] {
				found++
			}
			total++
		}
	})
	if frac := float64(found) / float64(total); frac < 0.9 {
		t.Errorf("top-%d of F·x finds %.3f of the true features, want >= 0.9", c.Active, frac)
	} else {
		t.Logf("top-%d of F·x finds %.3f of the true features", c.Active, frac)
	}
}

func TestSyntheticConfigErrorsNameTheKey(t *testing.T) {
	ok := SyntheticConfig{Dim: 8, Features: 16, Samples: 10, Active: 2}
	for _, c := range []struct {
		mod  func(*SyntheticConfig)
		want string
	}{
		{func(c *SyntheticConfig) { c.Dim = 0 }, "dataset.synthetic.dim: 0; allowed: 1 to 65536"},
		{func(c *SyntheticConfig) { c.Features = 0 }, "dataset.synthetic.features: 0"},
		{func(c *SyntheticConfig) { c.Samples = -1 }, "dataset.synthetic.samples: -1"},
		{func(c *SyntheticConfig) { c.Active = 17 }, "dataset.synthetic.active: 17; allowed: 1 to features (16)"},
		{func(c *SyntheticConfig) { c.Dim, c.Samples = 65536, 1<<16 }, "samples·dim at most 2^31"},
	} {
		cfg := ok
		c.mod(&cfg)
		_, err := Synthetic(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", cfg, err, c.want)
		}
	}
}
