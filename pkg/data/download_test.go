package data

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fileServer serves name/<file>.gz bodies and counts the requests for each path.
type fileServer struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	files map[string][]byte // URL path -> body
	cut   map[string]bool   // URL path -> announce the full length but send half
}

func newFileServer(t *testing.T, files map[string][]byte) *fileServer {
	fs := &fileServer{hits: map[string]int{}, files: files, cut: map[string]bool{}}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.hits[r.URL.Path]++
		body, ok := fs.files[r.URL.Path]
		cut := fs.cut[r.URL.Path]
		fs.mu.Unlock()
		switch {
		case !ok:
			http.NotFound(w, r)
		case cut:
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
		default:
			w.Write(body)
		}
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fileServer) requests() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for _, h := range fs.hits {
		n += h
	}
	return n
}

// gzBodies gzips each file of fx, keyed by its URL path under prefix.
func gzBodies(t *testing.T, fx fixture, prefix string) map[string][]byte {
	out := map[string][]byte{}
	for f, b := range fx.files {
		out[prefix+f+".gz"] = gzipBytes(t, b)
	}
	return out
}

func TestDownloadGood(t *testing.T) {
	fx := newFixture(30, 7)
	srv := newFileServer(t, gzBodies(t, fx, "/mirror/"))
	cache := t.TempDir()
	ctx := context.Background()

	if err := download(ctx, srv.Client(), "mnist", cache, srv.URL+"/mirror", fx.sums, fx.limits()); err != nil {
		t.Fatal(err)
	}
	want := []string{testImagesFile + ".gz", testLabelsFile + ".gz", trainImagesFile + ".gz", trainLabelsFile + ".gz"}
	if got := listDir(t, filepath.Join(cache, "mnist")); !slices.Equal(got, want) {
		t.Errorf("cache holds %v, want %v", got, want)
	}
	ds, err := loadIDXDataset("mnist", cache, fx.sums)
	if err != nil {
		t.Fatalf("Load after Download: %v", err)
	}
	if ds.Train.N != 30 || ds.Test.N != 7 || ds.Train.Dim != 6 {
		t.Errorf("loaded shapes %dx%d and %d, want 30x6 and 7", ds.Train.N, ds.Train.Dim, ds.Test.N)
	}

	// Valid files are not fetched again; an invalid one is replaced.
	n := srv.requests()
	if err := download(ctx, srv.Client(), "mnist", cache, srv.URL+"/mirror/", fx.sums, fx.limits()); err != nil {
		t.Fatal(err)
	}
	if srv.requests() != n {
		t.Errorf("second download made %d requests, want none", srv.requests()-n)
	}
	bad := filepath.Join(cache, "mnist", trainLabelsFile+".gz")
	if err := os.WriteFile(bad, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := download(ctx, srv.Client(), "mnist", cache, srv.URL+"/mirror/", fx.sums, fx.limits()); err != nil {
		t.Fatal(err)
	}
	if srv.requests() != n+1 {
		t.Errorf("repairing one file made %d requests, want 1", srv.requests()-n)
	}
	if _, err := loadIDXDataset("mnist", cache, fx.sums); err != nil {
		t.Errorf("Load after repair: %v", err)
	}

	// An uncompressed valid copy counts as present.
	plain := filepath.Join(cache, "mnist", testLabelsFile)
	if err := os.WriteFile(plain, fx.files[testLabelsFile], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(plain + ".gz"); err != nil {
		t.Fatal(err)
	}
	n = srv.requests()
	if err := download(ctx, srv.Client(), "mnist", cache, srv.URL+"/mirror/", fx.sums, fx.limits()); err != nil {
		t.Fatal(err)
	}
	if srv.requests() != n {
		t.Errorf("a valid uncompressed file was fetched again")
	}
}

func TestDownloadFailures(t *testing.T) {
	fx := newFixture(30, 7)
	tests := []struct {
		name    string
		file    string // the spoiled file
		spoil   func(srv *fileServer, path string)
		wantErr error
		wantMsg string
	}{
		{"corrupted", testImagesFile, func(srv *fileServer, p string) {
			b := slices.Clone(fx.files[testImagesFile])
			b[20] ^= 0xff
			srv.files[p] = gzipBytes(t, b)
		}, ErrChecksum, "MD5"},
		{"truncated gzip", trainImagesFile, func(srv *fileServer, p string) {
			srv.files[p] = srv.files[p][:len(srv.files[p])-10]
		}, ErrTruncated, "truncated"},
		{"not gzip", trainLabelsFile, func(srv *fileServer, p string) {
			srv.files[p] = fx.files[trainLabelsFile]
		}, ErrBadFormat, "gzip"},
		{"connection cut", testLabelsFile, func(srv *fileServer, p string) {
			srv.cut[p] = true
		}, ErrDownload, "unexpected EOF"},
		{"404", testLabelsFile, func(srv *fileServer, p string) {
			delete(srv.files, p)
		}, ErrDownload, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFileServer(t, gzBodies(t, fx, "/"))
			tt.spoil(srv, "/"+tt.file+".gz")
			cache := t.TempDir()
			err := download(context.Background(), srv.Client(), "mnist", cache, srv.URL, fx.sums, fx.limits())
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrDownload) {
				t.Fatalf("err = %v, want %v and ErrDownload", err, tt.wantErr)
			}
			for _, s := range []string{tt.file, tt.wantMsg} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			for _, name := range listDir(t, filepath.Join(cache, "mnist")) {
				if strings.HasPrefix(name, tt.file) || strings.HasPrefix(name, ".") {
					t.Errorf("cache holds %s after a failed download", name)
				}
			}
		})
	}
}

func TestDownloadCanceled(t *testing.T) {
	fx := newFixture(3, 3)
	srv := newFileServer(t, gzBodies(t, fx, "/"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cache := t.TempDir()
	err := download(ctx, srv.Client(), "mnist", cache, srv.URL, fx.sums, fx.limits())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if got := listDir(t, filepath.Join(cache, "mnist")); len(got) != 0 {
		t.Errorf("cache holds %v after a canceled download", got)
	}
}

// limits are the fetch limits of the fixture's files, with short timeouts.
func (fx fixture) limits() fetchLimits {
	p := map[string]int64{}
	for f, b := range fx.files {
		p[f] = int64(len(b))
	}
	return fetchLimits{payload: p, idle: 2 * time.Second, total: 20 * time.Second}
}

// TestDownloadStallsAndFloodsFailByName: a server that never answers, one that stops
// sending mid-file, one that trickles forever, one announcing or streaming more than
// the file can be (its known payload, gzipped) and a gzip bomb each fail the download,
// naming the file and the limit, in about the limit's time, leaving nothing behind.
func TestDownloadStallsAndFloodsFailByName(t *testing.T) {
	fx := newFixture(30, 7)
	good := gzBodies(t, fx, "/")
	const file = trainImagesFile
	lim := fx.limits()
	lim.idle, lim.total = 300*time.Millisecond, time.Second // plus the fixture's size at 20 kB/s
	bomb := gzipBytes(t, make([]byte, 50<<20))              // 50 MB of zeros in ~50 kB
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request, stop <-chan struct{})
		want    string
	}{
		{"no answer", func(w http.ResponseWriter, r *http.Request, stop <-chan struct{}) {
			<-stop
		}, "the server sent nothing for 300ms"},
		{"stops mid-file", func(w http.ResponseWriter, r *http.Request, stop <-chan struct{}) {
			b := good["/"+file+".gz"]
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			<-stop
		}, "the server sent nothing for 300ms"},
		{"trickles forever", func(w http.ResponseWriter, r *http.Request, stop <-chan struct{}) {
			w.Write(good["/"+file+".gz"][:10])
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					w.Write([]byte{0})
					w.(http.Flusher).Flush()
				}
			}
		}, fmt.Sprintf("the download took too long: more than %v", lim.totalTimeout(file))},
		{"announces too much", func(w http.ResponseWriter, r *http.Request, stop <-chan struct{}) {
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
			w.Write(make([]byte, 1<<10))
		}, "announces 1073741824 bytes"},
		{"streams too much", func(w http.ResponseWriter, r *http.Request, stop <-chan struct{}) {
			chunk := make([]byte, 64<<10)
			for range 1 << 14 { // up to 1 GB, unannounced
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, "sent more than"},
		{"gzip bomb", func(w http.ResponseWriter, r *http.Request, stop <-chan struct{}) {
			w.Write(bomb)
		}, "longer than the canonical file's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stop := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/"+file+".gz" {
					tt.handler(w, r, stop)
					return
				}
				w.Write(good[r.URL.Path])
			}))
			defer srv.Close()
			defer close(stop)
			cache := t.TempDir()
			start := time.Now()
			err := download(context.Background(), srv.Client(), "mnist", cache, srv.URL, fx.sums, lim)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			if !errors.Is(err, ErrDownload) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrDownload naming %s and saying %q", err, file, tt.want)
			}
			for _, name := range listDir(t, filepath.Join(cache, "mnist")) {
				if strings.HasPrefix(name, file) || strings.HasPrefix(name, ".") {
					t.Errorf("cache holds %s after a failed download", name)
				}
			}
		})
	}
}

// TestDefaultFetchLimitsFitTheCanonicalFiles: the default bounds admit every
// canonical file (a mirror's gzip is smaller than its payload) and are finite.
func TestDefaultFetchLimitsFitTheCanonicalFiles(t *testing.T) {
	lim := defaultFetchLimits()
	// Compressed sizes of the canonical mirrors' files.
	mirror := map[string]int64{trainImagesFile: 26421880, trainLabelsFile: 29515, testImagesFile: 4422102, testLabelsFile: 5148}
	for _, f := range idxFiles {
		if b := maxGzipBytes(lim.payload[f]); b < mirror[f] || b > 2*lim.payload[f]+1<<20 {
			t.Errorf("%s: bound %d bytes for a payload of %d (mirror file %d)", f, b, lim.payload[f], mirror[f])
		}
		if d := lim.totalTimeout(f); d <= lim.total || d > 2*time.Hour {
			t.Errorf("%s: total timeout %v", f, d)
		}
	}
	if lim.idle <= 0 || lim.idle > 5*time.Minute {
		t.Errorf("idle timeout %v", lim.idle)
	}
}

func TestDownloadBadName(t *testing.T) {
	for _, name := range []string{"digits", "cifar10"} {
		err := Download(context.Background(), name, t.TempDir(), "http://127.0.0.1:1/")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Download(%q): err = %v, want an error naming it", name, err)
		}
	}
}
