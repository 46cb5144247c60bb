package data

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/sparselab/saerun/pkg/spec"
)

// Dataset is what a named dataset provides.
type Dataset struct {
	Name  string
	Train *Set
	Test  *Set // nil for digits and the vector sets, which have no separate test set
	// Stream, when the source asked for streaming (Source.Buffer), reads the training
	// rows from their shards; Train is then the stream's first chunk, a sample of the
	// rows (for statistics such as an SAE's initial decoder bias), not the set.
	Stream *Stream
}

// Names lists the image datasets, which Load reads by name alone.
func Names() []string { return slices.Clone(spec.ImageDatasets) }

// VectorNames lists the vector datasets, which Open reads from a Source (a path or a
// configuration): vectors of any finite values, without image shape.
func VectorNames() []string { return slices.Clone(spec.VectorDatasets) }

// Source names a dataset and, for the vector sets, where its vectors come from.
type Source struct {
	Name string
	// Path is the parquet file or folder, or the .npy file (parquet, npy). A relative
	// path is resolved against the working directory.
	Path      string
	Parquet   ParquetOptions  // parquet
	Synthetic SyntheticConfig // synthetic
	// Buffer (npy, parquet), in bytes, streams Path, a folder of .npy or .parquet
	// shards, within this much memory (OpenStream) instead of loading it whole; 0
	// loads it whole.
	Buffer int64
	// StreamSeed draws a streamed set's shard order and in-chunk permutations.
	StreamSeed uint64
}

// Open returns the dataset src names: digits (embedded), mnist and fashion-mnist (from
// dir, see Load), parquet (LoadParquet), npy (LoadNPY) or synthetic (Synthetic). The
// vector sets have no test set.
func Open(src Source, dir string) (*Dataset, error) {
	var (
		set *Set
		err error
	)
	switch src.Name {
	case "parquet", "npy":
		if src.Path == "" {
			return nil, fmt.Errorf("data: dataset %s needs a path (dataset.path: a file, relative to the working directory or absolute)", src.Name)
		}
		if src.Buffer > 0 {
			return openStreamed(src)
		} else if src.Name == "parquet" {
			set, err = LoadParquet(src.Path, src.Parquet)
		} else {
			set, err = LoadNPY(src.Path)
		}
	case "synthetic":
		set, err = Synthetic(src.Synthetic)
	default:
		return Load(src.Name, dir)
	}
	if err != nil {
		return nil, err
	}
	return &Dataset{Name: src.Name, Train: set}, nil
}

// Load returns the named image dataset. digits is embedded in the binary; mnist
// and fashion-mnist are read from dir/<name>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
// (or the uncompressed files of the same name without .gz), and the MD5 of
// each uncompressed payload is checked. If dir is "", DefaultDir() is used. The
// vector sets (parquet, npy, synthetic) need more than a name: use Open.
func Load(name, dir string) (*Dataset, error) {
	if name == "digits" {
		return loadDigits()
	}
	sums, ok := canonicalMD5[name]
	if !ok {
		if slices.Contains(VectorNames(), name) {
			return nil, fmt.Errorf("data: dataset %s needs a path or a configuration: use data.Open", name)
		}
		return nil, unknownDatasetError(name)
	}
	if dir == "" {
		dir = DefaultDir()
	}
	return loadIDXDataset(name, dir, sums)
}

// DefaultDir returns $SAERUN_DATA_DIR if set, else "../shared/datasets" if
// that directory exists relative to the working directory, else
// <user cache dir>/saerun/datasets.
func DefaultDir() string {
	if d := os.Getenv("SAERUN_DATA_DIR"); d != "" {
		return d
	}
	const shared = "../shared/datasets"
	if fi, err := os.Stat(shared); err == nil && fi.IsDir() {
		return shared
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "saerun", "datasets")
}

// loadIDXDataset reads the four IDX files of name from dir/<name>/,
// checking each against sums. The files are decoded concurrently.
func loadIDXDataset(name, dir string, sums fileSums) (*Dataset, error) {
	paths := make([]string, len(idxFiles))
	for i, f := range idxFiles {
		p, err := locate(dir, name, f)
		if err != nil {
			return nil, err
		}
		paths[i] = p
	}
	var (
		trainX, testX *images
		trainY, testY []uint8
		errs          = make([]error, len(idxFiles))
		wg            sync.WaitGroup
	)
	wg.Go(func() { trainX, errs[0] = readFile(paths[0], sums[trainImagesFile], readImages) })
	wg.Go(func() { trainY, errs[1] = readFile(paths[1], sums[trainLabelsFile], readLabels) })
	wg.Go(func() { testX, errs[2] = readFile(paths[2], sums[testImagesFile], readImages) })
	wg.Go(func() { testY, errs[3] = readFile(paths[3], sums[testLabelsFile], readLabels) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	train, err := newSet(trainX, trainY, paths[0], paths[1])
	if err != nil {
		return nil, err
	}
	test, err := newSet(testX, testY, paths[2], paths[3])
	if err != nil {
		return nil, err
	}
	return &Dataset{Name: name, Train: train, Test: test}, nil
}

// locate finds file (gzipped or not) in dir/name/.
func locate(dir, name, file string) (string, error) {
	gz := filepath.Join(dir, name, file+".gz")
	plain := filepath.Join(dir, name, file)
	for _, p := range []string{gz, plain} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("data: %w", err)
		}
	}
	return "", fmt.Errorf("data: %s: %w: looked for %s (or uncompressed, without .gz); %s",
		name, ErrNotFound, absPath(gz), dirHint)
}

// readFile opens path, decodes its payload with decode, and verifies its MD5.
// Errors name the file and say what to do.
func readFile[T any](path, wantMD5 string, decode func(io.Reader) (T, error)) (T, error) {
	var zero T
	p, err := openPayload(path, isGzip(path))
	if err != nil {
		return zero, fileError(path, err)
	}
	defer p.Close()
	v, err := decode(p)
	if err == nil {
		err = p.checkMD5(wantMD5)
	}
	if err != nil {
		return zero, fileError(path, err)
	}
	return v, nil
}

// fileError prefixes err with the file's path and, for a bad file, the fix.
func fileError(path string, err error) error {
	if errors.Is(err, ErrTruncated) || errors.Is(err, ErrBadFormat) || errors.Is(err, ErrChecksum) {
		return fmt.Errorf("data: %s: %w; %s", absPath(path), err, refetchHint)
	}
	return fmt.Errorf("data: %s: %w", absPath(path), err)
}

// newSet pairs decoded images with their labels.
func newSet(im *images, labels []uint8, imPath, labelPath string) (*Set, error) {
	if len(labels) != im.n {
		return nil, fmt.Errorf("data: %w: %s holds %d images but %s holds %d labels",
			ErrBadFormat, absPath(imPath), im.n, absPath(labelPath), len(labels))
	}
	l := make([]int32, len(labels))
	for i, v := range labels {
		l[i] = int32(v)
	}
	return &Set{X: im.x, Labels: l, N: im.n, Dim: im.h * im.w, Height: im.h, Width: im.w, Source: absPath(imPath)}, nil
}

// absPath is how messages (and Set.Source) show a path: absolute, and quoted with Go
// escapes when it is not valid UTF-8, so that an error stays one readable line of
// text (in YAML, JSON, a terminal) whatever bytes the file name holds.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		p = a
	}
	if !utf8.ValidString(p) {
		return strconv.Quote(p)
	}
	return p
}

// openStreamed opens src.Path as a Stream of src.Name's shards (shuffled, seeded by
// src.StreamSeed) and reads its first chunk, straight into the sample Train.
func openStreamed(src Source) (*Dataset, error) {
	st, err := OpenStream(src.Path, StreamOptions{BufferBytes: src.Buffer, Shuffle: true, Seed: src.StreamSeed,
		Format: src.Name, Column: src.Parquet.Column})
	if err != nil {
		return nil, fmt.Errorf("dataset.path (a folder of %s shards, streamed with dataset.buffer): %w", src.Name, err)
	}
	buf := make([]float32, st.ChunkRows()*st.Dim())
	r, err := st.ReadInto(Position{Epoch: 1}, 1, [][]float32{buf})
	if err != nil {
		return nil, err
	}
	c, err := r.Next()
	r.Close() // with one buffer nothing is read ahead: buf is the sample's
	if err != nil {
		return nil, err
	}
	sample := &Set{X: slices.Clip(c.X), Labels: unlabelled(c.N), N: c.N, Dim: st.Dim(), Source: st.Source()}
	return &Dataset{Name: src.Name, Train: sample, Stream: st}, nil
}
